"""The Dagster UI as an operator uses it, in real headless Chromium against a real ``dagster-webserver``
and ``dagster-daemon`` (temporary SQLite home, a local drop folder of generated archives and one source
whose folder is missing). Each test asserts what a person sees and keeps a screenshot in
``test-artifacts/ui-*.png``. The tests run in file order on one deployment: the sensor whose folder
is missing (its first ticks), a fresh instance, then "Materialize all", then what it left behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from playwright.sync_api import expect

from eur_pipeline.definitions import build_definitions
from eur_pipeline.demo.generate import GenerateSpec, generate
from eur_pipeline_tests.browser import browser_page, screenshot
from eur_pipeline_tests.defs.processes import wait_for
from eur_pipeline_tests.defs.ui_deployment import UiDeployment, start_deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the first test also waits for the services

# every asset the definitions hold (the pipeline's tables, and what other features add, e.g. search_index)
ASSETS = sorted(k.to_user_string() for k in build_definitions(None).resolve_asset_graph().get_all_asset_keys())


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiDeployment]:
    yield from start_deployment(tmp_path_factory.mktemp("ui"))


@pytest.fixture
def page(ui: UiDeployment, request: pytest.FixtureRequest) -> Iterator[Any]:
    with browser_page() as page:
        # Dagster's one-time "join the community" dialog covers the page until skipped
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
        )
        yield page
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:  # what the page showed when the test failed
            screenshot(page, f"ui-failed-{request.node.name}", full_page=False)


def _open(page: Any, ui: UiDeployment, path: str) -> None:
    page.goto(ui.url + path, wait_until="domcontentloaded")


def _count(ui: UiDeployment, sql: str) -> int:
    con = duckdb.connect(str(ui.root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def test_a_sensor_whose_folder_is_missing_says_so_in_one_line(ui: UiDeployment, page: Any) -> None:
    """A folder that does not exist will not appear by waiting: the first tick fails (red), its error's
    headline one line naming the source and the folder (Dagster lists the stack below any failed
    tick). The ticks after it, while nothing changed, skip with that one line and when the tick
    fails again (hourly): no stack trace every 15 seconds, in the UI or the daemon's log."""
    _open(page, ui, "/locations/eur_pipeline/sensors/ingest_lost")
    cause = re.compile(r"lost: cannot list: lost: folder .* does not exist")
    page.get_by_text("Failure", exact=True).first.wait_for(timeout=90_000)
    page.get_by_text("View", exact=True).first.click()  # the failed tick's error, as the UI shows it
    line = page.get_by_text(cause).first
    line.wait_for()
    text = line.inner_text().strip()
    assert "\n" not in text and "Traceback" not in text, text
    # the tick's error is the cause itself, not Dagster's "error occurred during evaluation_fn" wrapper
    page.get_by_text(re.compile(r"^eur_pipeline\.defs\.sensors\.SensorListingError: lost: cannot")).first.wait_for()
    screenshot(page, "ui-f-missing-folder-sensor", full_page=False)
    page.get_by_role("button", name="Close").click()

    # the next ticks: skipped ("0 runs requested"), the cause in one line on the latest tick's tag
    wait_for("a skipped tick after the failure", lambda: ui.tick_statuses("ingest_lost")[0] == "SKIPPED" or None, 60)
    _open(page, ui, "/locations/eur_pipeline/sensors/ingest_lost")
    page.get_by_text("0 runs requested", exact=True).first.hover()
    quiet = page.get_by_text(re.compile(r"does not exist \(unchanged since \d\d:\d\d UTC; the tick fails again")).first
    quiet.wait_for()
    assert "\n" not in quiet.inner_text().strip()
    screenshot(page, "ui-f-missing-folder-next-ticks", full_page=False)
    ticks = ui.tick_statuses("ingest_lost")
    assert ticks.count("FAILURE") == 1 and ticks[0] == "SKIPPED", ticks


def test_a_fresh_instance_shows_nothing_green_and_checks_in_plain_text(ui: UiDeployment, page: Any) -> None:
    _open(page, ui, "/assets")
    for asset in ASSETS:
        page.get_by_text(asset, exact=True).first.wait_for()
    expect(page.get_by_text("Never materialized", exact=True)).to_have_count(len(ASSETS))
    expect(page.get_by_text("Materialized", exact=True)).to_have_count(0)
    screenshot(page, "ui-e-catalog-never-materialized")

    _open(page, ui, "/assets/messages?view=checks")
    page.get_by_text("Per thread (not queued at 'messages'): every record is folded").first.wait_for()
    about = page.get_by_text(re.compile(r"^Per thread \(not queued")).first.inner_text()
    assert "``" not in about and "\n" not in about, about
    screenshot(page, "ui-e-check-description")


def test_materialize_all_launches_one_run_that_collects_every_ready_file(ui: UiDeployment, page: Any) -> None:
    ui.stop_sensor("ingest_drop")  # this test, not the sensor, decides when the files are collected
    files = generate(ui.incoming, GenerateSpec(conversations=60, users=12, days=3))
    (ui.incoming / "broken.xml").write_text("<messages><message>", encoding="utf-8")
    before = {r.run_id for r in ui.runs()}

    _open(page, ui, "/asset-groups")
    page.get_by_text("archive_files").first.wait_for()
    screenshot(page, "ui-a-lineage-before", full_page=False)
    page.get_by_role("button", name="Materialize all").click()  # the one click: nothing to pick
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    toast.wait_for()
    short = re.search(r"[0-9a-f]{8}", toast.inner_text()).group(0)  # type: ignore[union-attr]
    run = wait_for("the launched run", lambda: next((r for r in ui.runs() if r.run_id.startswith(short)), None), 60)
    assert run.run_id not in before
    finished = ui.wait_for_run(run.run_id)
    assert finished.status.value == "SUCCESS", ui.run_logs(run.run_id)[-3000:]

    _open(page, ui, f"/runs/{run.run_id}")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_placeholder(re.compile(r"^Filter")).fill("quarantined;")  # the run log's one summary line per source
    page.get_by_text(f"drop: {len(files)} parsed, 1 quarantined;").first.wait_for()
    screenshot(page, "ui-a-materialize-all-run", full_page=False)
    assert _count(ui, "SELECT count(*) FROM archive_files WHERE status = 'parsed'") == len(files)
    assert _count(ui, "SELECT count(*) FROM billing") > 0
    assert not list(ui.incoming.glob("*.xml"))  # every ready file was collected (moved)

    _open(page, ui, "/assets")  # everything downstream refreshed in the same run
    expect(page.get_by_text("Materialized", exact=True)).to_have_count(len(ASSETS))
    expect(page.get_by_text("Never materialized", exact=True)).to_have_count(0)
    screenshot(page, "ui-a-catalog-after")


def test_per_file_status_and_quarantine_reason_on_the_asset_page(ui: UiDeployment, page: Any) -> None:
    _open(page, ui, "/assets/archive_files")
    page.get_by_text("this_run").first.wait_for()
    page.get_by_text("broken.xml").first.wait_for()
    page.get_by_text(re.compile(r"not well-formed XML")).first.wait_for()
    page.get_by_text("quarantined", exact=True).first.wait_for()
    screenshot(page, "ui-d-archive-files-status")

    _open(page, ui, "/assets/archive_files?view=checks")
    page.get_by_text("no_quarantined_files").first.click()
    page.get_by_text(re.compile(r"Quarantined files \(WARN\)")).first.wait_for()
    screenshot(page, "ui-d-quarantine-check")


def test_one_file_re_run_from_its_partition(ui: UiDeployment, page: Any) -> None:
    _open(page, ui, "/assets/archive_files")
    page.get_by_text("launch the rerun_file job").first.wait_for()  # the asset page says how
    page.locator('a[href="/jobs"]').first.click()  # the navigation's "Jobs"
    expect(page).to_have_url(re.compile(r"/jobs$"))
    page.locator('a[href*="/jobs/rerun_file"]').first.click()
    page.get_by_text("Launchpad", exact=True).first.click()
    partition = page.get_by_placeholder("Partition")
    partition.click()
    partition.fill("broken.xml")
    page.get_by_text("drop:broken.xml", exact=True).first.click()
    page.get_by_text("Generating configuration").wait_for(state="hidden")
    expect(page.get_by_role("button", name="Launch Run")).to_be_enabled()
    screenshot(page, "ui-b-rerun-launchpad", full_page=False)
    before = {r.run_id for r in ui.runs()}
    page.get_by_role("button", name="Launch Run").click()
    run = wait_for("the re-run", lambda: next((r for r in ui.runs("rerun_file") if r.run_id not in before), None), 60)
    assert run.tags.get("dagster/partition") == "drop:broken.xml"
    finished = ui.wait_for_run(run.run_id)
    assert finished.status.value == "SUCCESS", ui.run_logs(run.run_id)[-3000:]
    _open(page, ui, f"/runs/{run.run_id}")
    page.get_by_text(re.compile(r"broken\.xml: already collected \(file_id")).first.wait_for()
    screenshot(page, "ui-b-rerun-run", full_page=False)
    assert _count(ui, "SELECT count(*) FROM archive_files") == 8  # nothing loaded twice


def _launch_with_defaults(ui: UiDeployment, page: Any, job: str) -> str:
    """Jobs → ``job`` → Launchpad → Launch Run with nothing filled in; waits for success, opens the
    run's page and returns its id."""
    _open(page, ui, "/jobs")
    page.locator(f'a[href*="/jobs/{job}"]').first.click()
    page.get_by_text("Launchpad", exact=True).first.click()
    page.get_by_text("No errors").first.wait_for()  # nothing to fill in: every field has its default
    before = {r.run_id for r in ui.runs()}
    page.get_by_role("button", name="Launch Run").click()
    run = wait_for(job, lambda: next((r for r in ui.runs(job) if r.run_id not in before), None), 60)
    finished = ui.wait_for_run(run.run_id)
    assert finished.status.value == "SUCCESS", ui.run_logs(run.run_id)[-3000:]
    _open(page, ui, f"/runs/{run.run_id}")
    page.get_by_text("Success", exact=True).first.wait_for()
    return run.run_id


def test_purge_launches_from_the_ui_with_its_defaults(ui: UiDeployment, page: Any) -> None:
    _launch_with_defaults(ui, page, "eur_purge_job")  # eur.yaml's retention applies
    page.get_by_placeholder(re.compile(r"^Filter")).fill("purge:")
    page.get_by_text(re.compile(r"^purge: ")).first.wait_for()
    screenshot(page, "ui-c-purge-run", full_page=False)


def test_reprocess_quarantined_launches_from_the_ui_with_its_defaults(ui: UiDeployment, page: Any) -> None:
    """Default: every quarantined file again from its landing backup (broken.xml is still broken)."""
    _launch_with_defaults(ui, page, "reprocess_quarantined")
    page.get_by_placeholder(re.compile(r"^Filter")).fill("broken.xml")
    page.get_by_text(re.compile(r"broken\.xml: quarantined \(.*not well-formed XML")).first.wait_for()
    screenshot(page, "ui-c-reprocess-run", full_page=False)
    assert _count(ui, "SELECT count(*) FROM archive_files WHERE status = 'quarantined'") == 1
    assert _count(ui, "SELECT count(*) FROM audit_log WHERE action = 'reprocess'") == 1


def test_rebuild_warehouse_launches_from_the_ui_with_its_defaults(ui: UiDeployment, page: Any) -> None:
    """Default: a new warehouse file beside the current one, from the landing backups alone."""
    _launch_with_defaults(ui, page, "rebuild_warehouse")
    page.get_by_placeholder(re.compile(r"^Filter")).fill("rebuilt warehouse:")
    line = page.get_by_text(re.compile(r"rebuilt warehouse: .*rebuilt-\d{8}-\d{6}\.duckdb")).first
    line.wait_for()
    screenshot(page, "ui-c-rebuild-run", full_page=False)
    (rebuilt,) = (ui.root / "data").glob("rebuilt-*.duckdb")
    assert rebuilt.name in line.inner_text()
    con = duckdb.connect(str(rebuilt), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM message_records").fetchone() == (
            _count(ui, "SELECT count(*) FROM message_records"),
        )
    finally:
        con.close()
