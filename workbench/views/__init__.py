"""What analysts look at: maps, graphs, timelines and the explorer, all over one selection of incidents."""

from workbench.views.selection import Selection, ensure_text_index, selected_incidents, where_sql

__all__ = ["Selection", "ensure_text_index", "selected_incidents", "where_sql"]
