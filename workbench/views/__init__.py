"""What analysts look at: maps, graphs, timelines and the explorer, all over one selection of incidents.

The selection is imported here; the views themselves (``workbench.views.maps``, ``.graphs``,
``.timeline``, ``.explorer``) are imported where they are used, so that reading a selection does
not load folium, plotly and networkx.
"""

from workbench.views.selection import Selection, ensure_text_index, selected_incidents, where_sql

__all__ = ["Selection", "ensure_text_index", "selected_incidents", "where_sql"]
