"""The ``workbench`` command. Each command is a thin shell over a function of the package.

Errors from the library (:class:`~workbench.errors.WorkbenchError`) are shown as one clear
message and exit code 2; a command whose check finds problems exits with 1.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from workbench.config import Settings, settings
from workbench.errors import WorkbenchError

app = typer.Typer(help="Load, check and verify NGO documentation submissions.", no_args_is_help=True, add_completion=False)
contract_app = typer.Typer(help="Data contracts: check them, export them for NGOs.", no_args_is_help=True)
gazetteer_app = typer.Typer(help="The gazetteer of Syrian places used to geocode submissions.", no_args_is_help=True)
mapping_app = typer.Typer(help="Format mappings: an NGO's own export described once, loaded without code.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
app.add_typer(mapping_app, name="mapping")
app.add_typer(gazetteer_app, name="gazetteer")

console = Console(soft_wrap=True)  # lines are not cut at the terminal width: they are read and grepped
errors = Console(stderr=True, soft_wrap=True)

DbOption = typer.Option(None, "--db", help="Store file (default: WORKBENCH_DB or ./workbench.duckdb).")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of tables.")
MappingOption = typer.Option(None, "--mapping", help="A format mapping (YAML) for files in the NGO's own export format.")


def _mapping(path: Optional[Path]):
    if path is None:
        return None
    from workbench.contracts import load_contracts
    from workbench.mapping import load_mapping

    return load_mapping(path, load_contracts())


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except WorkbenchError as exc:
        errors.print(f"[bold red]{type(exc).__name__}[/]: {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def _settings(db: Optional[Path]) -> Settings:
    return settings(WORKBENCH_DB=db)


def _frame_table(frame, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(column, overflow="fold")
    for row in frame.iter_rows():
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


@app.command()
def ingest(
    packages: list[Path] = typer.Argument(..., help="Package folders or .zip files."),
    db: Optional[Path] = DbOption,
    mapping_file: Optional[Path] = MappingOption,
    as_json: bool = JsonOption,
) -> None:
    """Load submission packages into the store (checked, normalised, hashed, logged)."""
    from workbench.ingest import ingest_package
    from workbench.store import open_store

    config = _settings(db)
    failed = False
    reports = []
    with _friendly_errors(), open_store(config.db_path) as store:
        mapping = _mapping(mapping_file)
        for package in packages:
            try:
                report = ingest_package(store, package, config=config, mapping=mapping)
            except WorkbenchError as exc:
                failed = True
                errors.print(f"[bold red]{package}[/]: {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
                reports.append({"package": str(package), "status": "rejected", "error": str(exc)})
                continue
            reports.append({"package": str(package), **report.to_dict()})
            if not as_json:
                console.print(
                    f"[bold]{package}[/]: {report.message} — {report.rows_read} rows read, "
                    f"{report.rows_accepted} accepted, {report.rows_quarantined} quarantined; findings {report.findings or '{}'}",
                    highlight=False,
                )
    if as_json:
        print(json.dumps(reports, ensure_ascii=False, default=str))
    if failed:
        raise typer.Exit(1)


@app.command()
def check(
    package: Path = typer.Argument(..., help="Package folder or .zip file."),
    findings_csv: Optional[Path] = typer.Option(None, "--findings", help="Write every finding to this CSV file."),
    mapping_file: Optional[Path] = MappingOption,
    as_json: bool = JsonOption,
) -> None:
    """Run every check of an ingest without a store, as an NGO would before sending. Exit 1 if rows would be quarantined."""
    from workbench.ingest import check_package

    with _friendly_errors():
        report, findings = check_package(package, mapping=_mapping(mapping_file))
    if findings_csv:
        findings.write_csv(findings_csv)
    if as_json:
        print(json.dumps({**report.to_dict(), "finding_list": findings.to_dicts()}, ensure_ascii=False, default=str))
    else:
        console.print(f"{package}: {report.rows_read} rows read, {report.rows_accepted} would be accepted, "
                      f"{report.rows_quarantined} quarantined; findings {report.findings or '{}'}", highlight=False)
        for f in findings.head(200).iter_rows(named=True):
            where = f"{f['file']}" + (f":{f['row']}" if f["row"] is not None else "") + (f" {f['field']}" if f["field"] else "")
            console.print(f"{where} [{f['severity']}] {f['rule']}: {f['message']}", highlight=False, markup=False)
        if findings.height > 200:
            console.print(f"... and {findings.height - 200} more (use --findings FILE.csv for all)")
    if report.rows_quarantined:
        raise typer.Exit(1)


@app.command()
def status(db: Optional[Path] = DbOption, as_json: bool = JsonOption) -> None:
    """Per NGO: submissions, files, rows read / accepted / quarantined, findings by severity."""
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path, read_only=True) as store:
        frame = store.status()
    if as_json:
        print(json.dumps(frame.to_dicts(), ensure_ascii=False, default=str))
    else:
        compact = frame.select(
            ngo="ngo_id", files="data_files", read="rows_read", accepted="rows_accepted", quarantined="rows_quarantined",
            errors="findings_error", warnings="findings_warning", info="findings_info",
        )
        console.print(_frame_table(compact, title=f"Store {config.db_path}: current submissions per NGO"))


@app.command()
def verify(
    db: Optional[Path] = DbOption, as_json: bool = JsonOption,
    casefile_dir: Optional[Path] = typer.Option(None, "--casefile", help="Check a case-file package against its manifest instead "
                                                "(and against the store's custody log when the store is there)."),
) -> None:
    """Re-hash the received files, every stored row and the custody chain; name what was altered. Exit 1 if anything was."""
    from workbench.store import open_store
    from workbench.verify import verify_store

    config = _settings(db)
    if casefile_dir is not None:
        _verify_casefile(casefile_dir, config, as_json)
        return
    with _friendly_errors(), open_store(config.db_path) as store:
        report = verify_store(store)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        console.print(f"checked {report.files_checked} files, {report.rows_checked} rows, {report.custody_entries} custody entries")
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        if report.ok:
            console.print("[green]✓ everything matches its hash[/]")
    if not report.ok:
        raise typer.Exit(1)


def _verify_casefile(directory: Path, config: Settings, as_json: bool) -> None:
    from workbench.casefile import verify_casefile
    from workbench.store import open_store

    with _friendly_errors():
        if config.db_path.exists():
            with open_store(config.db_path, read_only=True) as store:
                check = verify_casefile(directory, store)
        else:
            check = verify_casefile(directory)
    if as_json:
        print(json.dumps(check.to_dict(), ensure_ascii=False))
    else:
        console.print(f"case file {check.casefile_id}: checked {check.files_checked} files against its manifest")
        if check.logged is None:
            console.print(f"(no store at {config.db_path}: the manifest was not compared with a custody log)")
        for problem in check.problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        if check.ok:
            console.print("[green]✓ every file matches the manifest[/]" + (" and the manifest is the one logged" if check.logged else ""))
    if not check.ok:
        raise typer.Exit(1)


@contract_app.command("check")
def contract_check(path: Optional[Path] = typer.Argument(None, help="A data_contracts folder (default: the project's).")) -> None:
    """Check every contract and vocabulary against the meta-schemas."""
    from workbench.contracts import load_contracts

    with _friendly_errors():
        contracts = load_contracts(path)
    console.print(f"contract set {contracts.version}: {len(contracts.contracts)} record contracts, "
                  f"{len(contracts.vocabularies)} vocabularies, all valid")


@contract_app.command("export")
def contract_export(
    out: Path = typer.Option(..., "--out", help="Folder to write to."),
    fmt: str = typer.Option("frictionless", "--format", help="Only 'frictionless' (Table Schema + Data Package)."),
) -> None:
    """Write the contracts as Frictionless Table Schemas and a data package NGOs can check their files with."""
    from workbench.contracts import load_contracts
    from workbench.frictionless import export_frictionless

    if fmt != "frictionless":
        errors.print(f"unknown format {fmt!r}; the only format is 'frictionless'")
        raise typer.Exit(2)
    with _friendly_errors():
        written = export_frictionless(load_contracts(), out)
    console.print(f"wrote {len(written)} files to {out}")


@mapping_app.command("check")
def mapping_check(path: Path = typer.Argument(..., help="A mapping YAML file.")) -> None:
    """Check a mapping against the mapping schema and the contracts; every problem at once."""
    from workbench.contracts import load_contracts
    from workbench.mapping import load_mapping

    with _friendly_errors():
        mapping = load_mapping(path, load_contracts())
    console.print(f"{path}: mapping {mapping.name} {mapping.version} is valid; each row yields "
                  f"{', '.join(r.type for r in mapping.records)}")


@mapping_app.command("draft")
def mapping_draft(
    path: Path = typer.Argument(..., help="A foreign export (CSV or XLSX)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the draft here (default: print it)."),
    sheet: Optional[str] = typer.Option(None, help="Sheet of a workbook (default: the first)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Propose a first mapping for a foreign file: encoding, columns, target fields, value maps. For the analyst only:
    the draft quotes category labels of the file."""
    from workbench.contracts import load_contracts
    from workbench.drafting import draft_mapping

    config = _settings(db)
    with _friendly_errors():
        gazetteer = None
        if config.db_path.exists():
            from workbench.store import open_store

            with open_store(config.db_path, read_only=True) as store:
                gazetteer = store.gazetteer()
        draft = draft_mapping(path, contracts=load_contracts(), gazetteer=gazetteer, sheet=sheet)
    text = draft.to_yaml()
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}: check every proposal, then `workbench mapping check {out}`")


@gazetteer_app.command("import")
def gazetteer_import(folder: Path = typer.Argument(..., help="Folder with the OCHA files (as in shared/data/geo)."), db: Optional[Path] = DbOption) -> None:
    """Load the OCHA administrative and community gazetteers; later ingests geocode with them."""
    from workbench.gazetteer import read_ocha
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors():
        gazetteer = read_ocha(folder)
        with open_store(config.db_path) as store:
            with store.transaction():
                store.replace_gazetteer(gazetteer, origin=f"OCHA ({folder.name})")
            store.write_anchor()
    console.print(f"imported {gazetteer.summary()}")


@gazetteer_app.command("info")
def gazetteer_info(db: Optional[Path] = DbOption) -> None:
    """Which gazetteer the store holds, with counts per level."""
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path, read_only=True) as store:
        summary = store.gazetteer().summary()
    console.print(summary)


@app.command()
def feedback(
    out: Path = typer.Option(..., "--out", help="Folder to write the reports to."),
    ngo: Optional[list[str]] = typer.Option(None, "--ngo", help="NGO id (repeat for several)."),
    all_ngos: bool = typer.Option(False, "--all", help="One report for every NGO in the store."),
    period: Optional[str] = typer.Option(None, "--period", help="Submissions received in: 2025, 2025-Q1, 2025-03 or 2025-01-01..2025-06-30."),
    lang: list[str] = typer.Option(["en"], "--lang", help="en or ar (repeat for both)."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print each report to PDF (WeasyPrint)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Write each NGO's feedback report (HTML, and PDF): what it sent, how well it fits, what would help most."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workbench.feedback import write_report
    from workbench.quality import collection_profile, parse_period
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors():
        if bool(ngo) == all_ngos:
            raise WorkbenchError("name the NGO(s) with --ngo ID, or pass --all for every NGO")
        chosen_period = parse_period(period) if period else None
        with open_store(config.db_path) as store:
            ids = [r[0] for r in store.con.execute("SELECT ngo_id FROM ngos ORDER BY ngo_id").fetchall()] if all_ngos else list(ngo)
            collection = collection_profile(store)
            jobs = [(ngo_id, language) for ngo_id in ids for language in lang]
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=errors, transient=True, disable=len(jobs) < 2) as progress:
                task = progress.add_task("feedback reports", total=len(jobs))
                for ngo_id, language in jobs:
                    progress.update(task, description=f"{ngo_id} ({language})")
                    files = write_report(store, ngo_id, out, language=language, period=chosen_period, pdf=pdf, collection=collection)
                    console.print(f"wrote {files.html}" + (f" and {files.pdf.name}" if files.pdf else ""))
                    progress.advance(task)


NgoFilter = typer.Option(None, "--ngo", help="Only this NGO's incidents (repeat for several).")
PeriodFilter = typer.Option(None, "--period", help="Incidents overlapping 2014, 2014-Q2, 2014-03 or 2014-01-01..2014-06-30.")
ViolationFilter = typer.Option(None, "--violation", help="Violation type code (repeat for several).")
GovernorateFilter = typer.Option(None, "--governorate", help="Governorate P-code such as SY02 (repeat for several).")
ActorFilter = typer.Option(None, "--actor", help="Actor id (repeat for several).")
TextFilter = typer.Option("", "--text", help="Words that must all occur in the title or narrative (full-text search).")


@contextmanager
def _selected(db, ngo, period, violation, governorate, actor, text, *, query: Optional[Path] = None,
              writable: bool = False) -> Iterator[tuple]:
    """The store and the selection the filters describe; the store is writable to build the text index or to log."""
    from workbench.store import open_store
    from workbench.views import Selection, ensure_text_index

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path, read_only=not (text or writable)) as store:
        selection = Selection.parse(ngos=ngo or (), period=period, violation_types=violation or (), governorates=governorate or (),
                                    actors=actor or (), text=text or "")
        if query is not None:
            from workbench.casefile import saved_query

            selection = selection.but(within=saved_query(query, store))
        if selection.text:
            ensure_text_index(store)
        yield store, selection


@app.command("map")
def map_command(
    out: Path = typer.Option(..., "--out", help="HTML file to write."),
    boundaries: Optional[Path] = typer.Option(None, "--boundaries", help="GeoJSON of admin boundaries to draw (simplified on load)."),
    tiles: Optional[str] = typer.Option(None, "--tiles", help="Online base map (e.g. OpenStreetMap). Default: none, nothing is fetched."),
    ngo: Optional[list[str]] = NgoFilter, period: Optional[str] = PeriodFilter, violation: Optional[list[str]] = ViolationFilter,
    governorate: Optional[list[str]] = GovernorateFilter, actor: Optional[list[str]] = ActorFilter, text: str = TextFilter,
    db: Optional[Path] = DbOption,
) -> None:
    """Write a map of the selected incidents as one HTML file that opens with no network."""
    from workbench.views.maps import incident_map, save_map

    with _selected(db, ngo, period, violation, governorate, actor, text) as (store, selection):
        path = save_map(incident_map(store, selection, boundaries=boundaries, tiles=tiles), out)
    console.print(f"wrote {path} ({selection.describe()})")


@app.command("graph")
def graph_command(
    out: Path = typer.Option(..., "--out", help="File to write: .gexf, .graphml (Gephi, link-analysis tools) or .html (offline view)."),
    kind: str = typer.Option("cooccurrence", "--kind", help="cooccurrence (actors in the same incidents) or actor_incident_place."),
    min_weight: int = typer.Option(1, "--min-weight", help="Leave out actor pairs seen together in fewer incidents."),
    ngo: Optional[list[str]] = NgoFilter, period: Optional[str] = PeriodFilter, violation: Optional[list[str]] = ViolationFilter,
    governorate: Optional[list[str]] = GovernorateFilter, actor: Optional[list[str]] = ActorFilter, text: str = TextFilter,
    db: Optional[Path] = DbOption,
) -> None:
    """Write the actor network of the selected incidents, with its metrics as node attributes."""
    from workbench.views.graphs import actor_graph, export_graph, graph_metrics

    with _selected(db, ngo, period, violation, governorate, actor, text) as (store, selection):
        graph = actor_graph(store, selection, kind=kind, min_weight=min_weight)
        for row in graph_metrics(graph).iter_rows(named=True):
            node = row.pop("node")
            graph.nodes[node].update({k: v for k, v in row.items() if v is not None})
        path = export_graph(graph, out)
    console.print(f"wrote {path}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges ({selection.describe()})")


@app.command("timeline")
def timeline_command(
    out: Path = typer.Option(..., "--out", help="HTML file to write."),
    by: str = typer.Option("violation_type", "--by", help="violation_type, governorate or ngo."),
    lang: str = typer.Option("en", "--lang", help="en or ar."),
    ngo: Optional[list[str]] = NgoFilter, period: Optional[str] = PeriodFilter, violation: Optional[list[str]] = ViolationFilter,
    governorate: Optional[list[str]] = GovernorateFilter, actor: Optional[list[str]] = ActorFilter, text: str = TextFilter,
    db: Optional[Path] = DbOption,
) -> None:
    """Write a timeline of the selected incidents (a month-long bar for an incident known to the month)."""
    from workbench.views.timeline import save_timeline, timeline_figure, timeline_frame

    with _selected(db, ngo, period, violation, governorate, actor, text) as (store, selection):
        path = save_timeline(timeline_figure(timeline_frame(store, selection, by=by), language=lang), out)
    console.print(f"wrote {path} ({selection.describe()})")


AuthorityOption = typer.Option(..., "--authority", help="The authority, by its code as the NGOs' terms name it (e.g. DE-GBA).")
QueryOption = typer.Option(None, "--query", help="A saved query: a .sql file with one SELECT giving ngo_id and incident_id.")


@app.command()
def casefile(
    authority: str = AuthorityOption,
    out: Optional[Path] = typer.Option(None, "--out", help="New (or empty) folder for the case file. Not needed with --preview."),
    preview_only: bool = typer.Option(False, "--preview", help="Only show what would be disclosed and withheld; write nothing."),
    on: Optional[str] = typer.Option(None, "--on", help="Day the terms are applied on (YYYY-MM-DD; default today): embargoes end on a day."),
    boundaries: Optional[Path] = typer.Option(None, "--boundaries", help="GeoJSON of admin boundaries for the maps."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print the index to PDF."),
    xlsx: bool = typer.Option(False, "--xlsx", help="Also write the records as one XLSX workbook (at most 1,048,575 rows a sheet)."),
    interactive: bool = typer.Option(True, "--interactive/--no-interactive", help="Also write the offline map.html and timeline.html."),
    query: Optional[Path] = QueryOption,
    ngo: Optional[list[str]] = NgoFilter, period: Optional[str] = PeriodFilter, violation: Optional[list[str]] = ViolationFilter,
    governorate: Optional[list[str]] = GovernorateFilter, actor: Optional[list[str]] = ActorFilter, text: str = TextFilter,
    db: Optional[Path] = DbOption, as_json: bool = JsonOption,
) -> None:
    """Write a case file for an authority: only what each NGO agreed to share with it, with a manifest, logged."""
    from workbench.casefile import preview, write_casefile
    from workbench.views.selection import day

    if not preview_only and out is None:
        raise typer.BadParameter("give --out FOLDER (or --preview to write nothing)")
    with _selected(db, ngo, period, violation, governorate, actor, text, query=query, writable=not preview_only) as (store, selection):
        decided_on = day(on) if on else None
        if preview_only:
            plan = preview(store, authority, selection, on=decided_on)
        else:
            written = write_casefile(store, authority, out, selection, on=decided_on, boundaries=boundaries, pdf=pdf, xlsx=xlsx,
                                     interactive=interactive, saved_query=query.read_text(encoding="utf-8") if query else None)
            plan = written.plan
    if as_json:
        result = {"authority": authority, "decided_on": plan.on.isoformat(), "selection": selection.describe(),
                  "counts": plan.counts.to_dicts(), "withheld": plan.withheld_by_reason().to_dicts()}
        if not preview_only:
            result |= {"casefile_id": written.casefile_id, "directory": str(written.directory), "manifest_sha256": written.manifest_sha256}
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    console.print(_frame_table(plan.counts, title=f"{authority}, decided on {plan.on} ({selection.describe()})"))
    if plan.withheld.height:
        console.print(_frame_table(plan.withheld_by_reason(), title="Withheld (counts and reasons only)"))
    if not preview_only:
        console.print(f"wrote {written.directory}: case file {written.casefile_id}, manifest SHA-256 {written.manifest_sha256} "
                      f"(custody log entry {written.custody_seq})")


@app.command()
def agreement(
    ngo: str = typer.Option(..., "--ngo", help="The NGO whose word this is."),
    authority: str = AuthorityOption,
    agreed: bool = typer.Option(..., "--agreed/--withdrawn", help="The NGO agreed to disclosure, or withdrew its agreement."),
    submission: Optional[int] = typer.Option(None, "--submission", help="Only this submission (default: all the NGO's submissions)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="The NGO's letter or message this rests on."),
    note: Optional[str] = typer.Option(None, "--note", help="Anything the next analyst should know."),
    db: Optional[Path] = DbOption,
) -> None:
    """Record an NGO's later agreement to, or withdrawal of agreement for, disclosure to an authority (logged)."""
    from workbench.disclosure import record_update
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path) as store:
        recorded = record_update(store, ngo, authority, "agreed" if agreed else "withdrawn", submission_id=submission,
                                 reference=reference, note=note)
    console.print(f"recorded: {ngo} {'agreed to' if agreed else 'withdrew its agreement for'} {authority} "
                  f"(custody log entry {recorded.custody.seq}, by {recorded.custody.actor})")
    for row in recorded.flagged_exports.iter_rows(named=True):
        console.print(f"[yellow]![/] earlier export {row['export_id']} carried {row['records_affected']} of {ngo}'s records to {authority}: "
                      "it is flagged; tell the authority", highlight=False)


@app.command()
def audit(
    authority: Optional[str] = typer.Option(None, "--authority", help="Only exports for this authority."),
    kind: Optional[str] = typer.Option(None, "--kind", help="casefile, contact_requests, public_report or feedback."),
    db: Optional[Path] = DbOption, as_json: bool = JsonOption,
) -> None:
    """List every export: who exported what, when, for which authority, and any withdrawal flagged since."""
    from workbench.audit import exports
    from workbench.disclosure import authority_key
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path, read_only=True) as store:
        frame = exports(store, authority_key=authority_key(authority) if authority else None, kind=kind)
    if as_json:
        print(json.dumps(frame.to_dicts(), ensure_ascii=False, default=str))
    elif frame.height:
        shown = frame.with_columns(frame["created_at"].dt.strftime("%Y-%m-%d %H:%M"))
        console.print(_frame_table(shown.select("created_at", "created_by", "kind", "authority", "records", "withheld", "export_id",
                                                "withdrawals"), title=f"Exports from {config.db_path} (--json for manifest hashes)"))
    else:
        console.print("no exports logged")


@app.command("contact-requests")
def contact_requests_command(
    ngo_id: str = typer.Option(..., "--ngo", help="The NGO asked to make contact (its own pseudonyms are listed)."),
    out: Path = typer.Option(..., "--out", help="File to write: .csv or .xlsx."),
    role: Optional[list[str]] = typer.Option(None, "--role", help="Person role to list (repeat; default witness, survivor, victim, relative, detainee)."),
    query: Optional[Path] = QueryOption,
    period: Optional[str] = PeriodFilter, violation: Optional[list[str]] = ViolationFilter,
    governorate: Optional[list[str]] = GovernorateFilter, actor: Optional[list[str]] = ActorFilter, text: str = TextFilter,
    db: Optional[Path] = DbOption,
) -> None:
    """List, for one NGO, the pseudonyms of persons to reach and the incidents that make them matter (no personal data)."""
    from workbench.casefile.contacts import DEFAULT_ROLES, contact_requests, write_contact_requests

    with _selected(db, [ngo_id], period, violation, governorate, actor, text, query=query, writable=True) as (store, selection):
        requests = contact_requests(store, ngo_id, selection, roles=tuple(role) if role else DEFAULT_ROLES)
        export = write_contact_requests(store, requests, out, selection=selection)
    left = ", ".join(f"{n} {why}" for why, n in requests.left_out.items() if n)
    console.print(f"wrote {out}: {requests.requests.height} pseudonyms for {ngo_id}"
                  + (f" ({left}: not listed)" if left else "") + f"; logged as {export.export_id}")


@app.command("public-report")
def public_report_command(
    period: str = typer.Option(..., "--period", help="2024, 2024-Q1, 2024-03 or 2024-01-01..2024-06-30."),
    out: Path = typer.Option(..., "--out", help="Folder to write public_report.html and the CSV tables to."),
    threshold: int = typer.Option(5, "--threshold", help="Smallest count published; smaller ones (and their complements) are suppressed."),
    on: Optional[str] = typer.Option(None, "--on", help="Publication day (YYYY-MM-DD; default today): submissions embargoed past it are left out."),
    db: Optional[Path] = DbOption,
) -> None:
    """Write aggregate figures for publication: nothing confidential or embargoed, small cells suppressed, no NGO named."""
    from workbench.public_report import write_public_report
    from workbench.quality.periods import parse_period
    from workbench.store import open_store
    from workbench.views.selection import day

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path) as store:
        report = write_public_report(store, parse_period(period), out, threshold=threshold, on=day(on) if on else None)
    console.print(f"wrote {report.html} and {len(report.csv)} CSV tables: {report.incidents} incidents in scope, "
                  f"{report.primary} cells suppressed below {threshold} and {report.complementary} more so that none can be recomputed")


@app.command()
def link(
    entity: str = typer.Option("all", "--entity", help="incidents, persons, or all (incidents first: persons use their clusters)."),
    reuse_model: bool = typer.Option(False, "--reuse-model", help="Score with the last trained model instead of training again."),
    truth: Optional[Path] = typer.Option(None, "--evaluate", help="A ground-truth folder (as `workbench synth` writes) to score the result against."),
    show_model: bool = typer.Option(False, "--show-model", help="Print the model's m, u and Bayes factor per comparison level."),
    db: Optional[Path] = DbOption, as_json: bool = JsonOption,
) -> None:
    """Link the same incident (and the same person) reported by several NGOs; every NGO's record is kept."""
    from workbench.linkage.evaluate import scores, truth_table
    from workbench.linkage.run import link_incidents, link_persons
    from workbench.store import open_store

    if entity not in ("incidents", "persons", "all"):
        raise typer.BadParameter("--entity is incidents, persons or all")
    config = _settings(db)
    results = []
    with _friendly_errors(), open_store(config.db_path) as store:
        runs = []
        if entity in ("incidents", "all"):
            runs.append(link_incidents(store, retrain=not reuse_model))
        if entity in ("persons", "all"):
            runs.append(link_persons(store, retrain=not reuse_model))
        for run in runs:
            result = {"entity": run.entity, "model_id": run.model_id, "records": run.records, "pairs_for_review": run.pairs,
                      "linked_pairs": run.linked_pairs, "clusters": run.clusters, "multi_record_clusters": run.multi_record_clusters,
                      "seconds": {k: round(v, 2) for k, v in run.timings.items()}, "notes": run.notes}
            if truth is not None:
                predicted = store.frame("SELECT record_id, cluster_id FROM link_clusters WHERE entity = ?", [run.entity])
                result["evaluation"] = scores(predicted, truth_table(truth, run.entity))
            results.append((run, result))
    if as_json:
        print(json.dumps([r for _, r in results], ensure_ascii=False, default=str))
        return
    for run, result in results:
        console.print(f"{run.entity}: {run.records} records, {run.linked_pairs} pairs linked, {run.multi_record_clusters} clusters of "
                      f"two or more ({run.clusters} in all), {run.pairs} pairs kept for review; model {run.model_id}")
        if "evaluation" in result:
            for kind in ("pairwise", "cluster"):
                e = result["evaluation"][kind]
                console.print(f"  {kind}: precision {e['precision']:.3f}, recall {e['recall']:.3f}, F1 {e['f1']:.3f}")
        for note in run.notes:
            console.print(f"  [yellow]note[/]: {note}", highlight=False)
        if show_model:
            console.print(_frame_table(run.parameters, title=f"{run.entity} model"))


@app.command("link-decision")
def link_decision(
    first: str = typer.Argument(..., help="A record id as NGO/local id, e.g. ALPHA/ALPHA-2014-0094."),
    second: str = typer.Argument(..., help="The other record id."),
    decision: str = typer.Option(..., "--decision", help="accept (they are the same) or reject (they are not)."),
    entity: str = typer.Option("incidents", "--entity", help="incidents or persons."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why, for the next analyst."),
    db: Optional[Path] = DbOption,
) -> None:
    """Record an analyst's decision on a pair; every later linkage run respects it."""
    from workbench.linkage.clusters import ENTITIES, check_record, record_decision
    from workbench.store import open_store

    if entity not in ENTITIES:
        raise typer.BadParameter(f"--entity is one of {', '.join(ENTITIES)}")
    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path) as store:
        for record in (first, second):
            check_record(store, entity, record)
        entry = record_decision(store, entity, first, second, decision, reason=reason)
    console.print(f"recorded: {decision} {first} ~ {second} (custody log entry {entry.seq}, by {entry.actor}); "
                  "it takes effect at the next `workbench link`")


@app.command()
def pseudonymise(
    file: Path = typer.Argument(..., help="CSV or XLSX of persons with their names (stays with the NGO)."),
    key: Path = typer.Option(..., "--key", help="Key file shared by the NGOs that want their pseudonyms to match (at least 32 bytes)."),
    out: Optional[Path] = typer.Option(None, "--out", help="File to write (default: FILE with -pseudonymised before the suffix)."),
    name_column: Optional[list[str]] = typer.Option(None, "--name-column", help="Name column(s), in order (default: found from the header)."),
    prefix: str = typer.Option("PS-", "--prefix", help="Prefix of the keyed pseudonyms."),
) -> None:
    """For NGOs: replace names by a keyed pseudonym and a keyed Bloom-filter encoding (CLK); the names never leave."""
    from workbench.linkage.clk import pseudonymise_file

    out = out or file.with_name(f"{file.stem}-pseudonymised{file.suffix}")
    with _friendly_errors():
        report = pseudonymise_file(file, key, out, name_columns=name_column or None, prefix=prefix)
    console.print(f"wrote {report.out}: {report.encoded} of {report.rows} rows encoded from {', '.join(report.name_columns)}"
                  + (f"; {report.empty_names} rows without a name" if report.empty_names else ""))
    if report.name_like_kept:
        console.print(f"[yellow]check before sharing[/]: columns kept whose header mentions a name: {', '.join(report.name_like_kept)}")


@app.command()
def entities(
    ngo: Optional[str] = typer.Option(None, "--ngo", help="Only this NGO's records (default: every NGO)."),
    db: Optional[Path] = DbOption, as_json: bool = JsonOption,
) -> None:
    """Find places, armed actors, weapons and dates in narratives (English and Arabic), link them, and store the mentions."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from workbench.entities.run import extract_store
    from workbench.store import open_store

    config = _settings(db)
    with _friendly_errors(), open_store(config.db_path) as store:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=errors, transient=True, disable=as_json) as progress:
            task = progress.add_task("reading narratives", total=None)
            run = extract_store(store, ngo_id=ngo, progress=lambda done, total: progress.update(task, completed=done, total=total))
    summary = {k: v for k, v in vars(run).items() if not k.startswith("_")}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in summary.items()), highlight=False)


@app.command()
def synth(
    out: Path = typer.Option(Path("build/demo"), "--out", help="Folder to write the packages to."),
    seed: int = typer.Option(2011, help="Random seed; the same seed gives the same bytes."),
    incidents: int = typer.Option(600, help="True incidents in the shared pool the NGOs report on."),
    zip_packages: bool = typer.Option(False, "--zip", help="Write .zip packages instead of folders."),
    benchmark: bool = typer.Option(False, "--benchmark", help="Write one large contract-shaped package instead."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace packages already in the output folder."),
) -> None:
    """Write synthetic submissions from clearly fictional NGOs, with the ground truth of which records are the same."""
    from workbench.synth import generate, write_benchmark_package

    with _friendly_errors():
        if benchmark:
            path = write_benchmark_package(out, incidents=incidents, seed=seed, overwrite=overwrite)
            console.print(f"wrote {path}")
            return
        result = generate(out, seed=seed, incidents=incidents, zip_packages=zip_packages, overwrite=overwrite)
    for package in result.packages:
        console.print(f"wrote {package}")
    console.print(f"ground truth in {result.ground_truth}")


def main() -> None:  # pragma: no cover - entry point for python -m
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
