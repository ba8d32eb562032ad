"""The ``expguard`` command line. Thin: each command calls one function of the package.

Errors a user can fix print one line to stderr (``expguard: error: ...``) and exit 2; an
unexpected failure exits 1 with one line too. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .core.errors import ExpguardError
from .settings.config import DEFAULT_PROJECT, PARQUET_COMPRESSIONS, config_from_options



class _Silent:
    """What ``--quiet`` prints to: nothing. Importing rich costs about 25 ms of a run's start,
    which a quiet run (a scheduler's, the benchmark's) does not need."""

    quiet = True
    is_terminal = False
    width = 80

    def print(self, *args: Any, **kwargs: Any) -> None:
        pass


def _console(quiet: bool = False):
    if quiet:
        return _Silent()
    from rich.console import Console

    # Progress goes to stdout: stderr carries nothing but the one-line error, so that a
    # caller can show it as is.
    # soft_wrap: long paths stay on one line when stdout is not a terminal.
    return Console(quiet=quiet, highlight=False, soft_wrap=True)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ExpguardError into one line on stderr and a non-zero exit, unless --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return command(*args, **kwargs)
        except ExpguardError as error:
            if debug:
                raise
            click.echo(f"expguard: error: {error.one_line()}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("expguard: interrupted; earlier outputs are unchanged", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - the last line of defence for a user
            if debug:
                raise
            message = " ".join(f"{type(error).__name__}: {error}".split())[:400]
            click.echo(f"expguard: internal error: {message} (run with --debug for the traceback)", err=True)
            sys.exit(1)

    return wrapper


def refuse_build_options(options: dict[str, Any], names: tuple[str, ...] = ("as_of", "var")) -> None:
    """Reading an earlier run's outputs, options that only shape a build (``--as-of``, ``--var``)
    would be ignored without a word: refuse them instead, on one line."""
    from .core.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name in names if options.get(name)]
    if given:
        raise ConfigError(
            f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} when the models are built from "
            "--events/--assignments; an earlier run's outputs hold the verdicts of its own reference time and "
            "variables (run `expguard run` again with them, or build here from the inputs)"
        )


def input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that reads inputs (run, and later diagnose)."""
    options = [
        click.option("--project", "project", type=click.Path(dir_okay=False), default=None,
                     help=f"Project file (default: ./{DEFAULT_PROJECT} when it exists)."),
        click.option("--events", "events", default=None,
                     help="Event stream: a Parquet/CSV/JSON-lines file or glob, or DBFILE::TABLE."),
        click.option("--assignments", "assignments", default=None,
                     help="Assignments: a Parquet/CSV/JSON-lines file or glob, or DBFILE::TABLE."),
        click.option("--events-format", type=click.Choice(["parquet", "csv", "json"]), default=None,
                     help="Format of --events when its name does not tell."),
        click.option("--assignments-format", type=click.Choice(["parquet", "csv", "json"]), default=None,
                     help="Format of --assignments when its name does not tell."),
        click.option("--events-preset", default=None, metavar="NAME",
                     help="The events are a tracking product's export: segment, segment_warehouse, rudderstack, ga4, "
                          "mixpanel, amplitude, posthog, statsig, statsig_events, launchdarkly (see "
                          "docs/configuration.md)."),
        click.option("--var", "var", multiple=True, metavar="NAME=VALUE",
                     help="Set a variable (repeatable), e.g. --var exp_exposure_max_days_after_assignment=14."),
        click.option("--engine", default=None, help="Engine: duckdb (default, in-process) or spark."),
        click.option("--spark-master", default=None, metavar="URL",
                     help="Spark master for --engine spark, e.g. local[4], spark://host:7077, yarn (default: local[*])."),
        click.option("--spark-remote", default=None, metavar="URL",
                     help="Spark Connect server for --engine spark, e.g. sc://host:15002."),
        click.option("--threads", type=int, default=None, help="Engine threads (default: all cores)."),
        click.option("--memory-limit", default=None, help="Engine memory limit, e.g. 2GB; past it DuckDB spills to disk, and the dedupe and validation are built in parts by unit when they would not fit (docs/configuration.md)."),
        click.option("--temp-directory", default=None, help="Where the engine spills (default: a private temp folder)."),
        click.option("--as-of", "as_of", default=None, metavar="TIME",
                     help="Reference time of the freshness check, ISO-8601 (default: now); "
                          "same as --var exp_health_as_of=TIME."),
        click.option("--debug", is_flag=True, help="Show the full traceback on errors."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def progress_printer(console) -> Callable[[str, dict], None]:
    def show(event: str, info: dict) -> None:
        if event == "prepare":
            console.print("[dim]reading inputs and checking contracts[/dim]")
        elif event == "model_done":
            parts = f" in {info['parts']} parts by unit" if info.get("parts", 1) > 1 else ""
            console.print(f"  [green]built[/green] {info['name']:<52} {info['rows']:>12,} rows {info['seconds']:>8.2f} s{parts}")
        elif event == "write":
            console.print("[dim]writing outputs[/dim]")

    return show


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="expguard")
def main() -> None:
    """expguard: validate A/B-test exposures against assignments.

    \b
    Example:
      expguard demo
      expguard run --events events.parquet --assignments assignments.parquet --output-dir out/
    """


@main.command()
@input_options
@click.option("--output-dir", default=None, help="Write one Parquet file per model here (created if missing).")
@click.option("--database", default=None, help="Write one table per model into this DuckDB file (default: expguard.duckdb when --output-dir is not given).")
@click.option("--parquet-compression", type=click.Choice(PARQUET_COMPRESSIONS), default=None,
              help="Codec of the --output-dir files (default: zstd, level 1; snappy writes files about a third "
                   "larger for about 7% less write CPU).")
@click.option("--lock-timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for another run writing the same outputs (or a report, diagnose or alerts reading its database file).")
@click.option("--fail-on", type=click.Choice(["warn", "fail"]), default=None,
              help="Exit 3 (after writing the outputs) when an experiment's health verdict is this or worse.")
@click.option("--incremental", is_flag=True, default=None,
              help="Read only what is new since the last run into these outputs and update the models "
                   "(the first run is a full build); see docs/incremental.md.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (and a failing verdict, on stderr).")
@handle_errors
def run(output_dir: str | None, database: str | None, parquet_compression: str | None, lock_timeout: float,
        fail_on: str | None, quiet: bool, debug: bool, incremental: bool | None, **options: Any) -> None:
    """Build the exposure-validation models from an event stream and assignments.

    \b
    Example:
      expguard run --events events.parquet --assignments assignments.parquet \\
          --output-dir out/ --var exp_exposure_max_days_after_assignment=14
    With no --events/--assignments, the sources come from ./expguard.toml.
    Ends with the health verdicts (fct_experiment_health): experiments that fail or warn, each
    with its first failing check. Exits 3 when --fail-on is given and a verdict reaches it.
    """
    from .runner.pipeline import run as run_pipeline

    config = config_from_options(**options, output_dir=output_dir, database=database, incremental=incremental,
                                 parquet_compression=parquet_compression)
    console = _console(quiet)
    result = run_pipeline(config, progress=progress_printer(console), lock_timeout=lock_timeout)
    if result.increment is not None:
        for line in result.increment.lines():
            console.print(line, markup=False)
    where = [str(p.parent) for p in result.parquet_files[:1]] + ([str(result.database)] if result.database else [])
    console.print(f"[bold]done[/bold] in {result.seconds:.1f} s; wrote {', '.join(where)}")
    from .core.constants import FCT_ALERTS

    count = result.rows(FCT_ALERTS)
    console.print(f"{count:,} exposure-quality alert{'s' if count != 1 else ''}; list them with: expguard alerts "
                  + (f"--output-dir {result.parquet_files[0].parent}" if result.parquet_files else f"--database {result.database}"))
    finish_with_verdicts(console, result.verdicts, result.rejected, fail_on)


def finish_with_verdicts(console, found, rejected, fail_on: str | None) -> None:
    """Print the health summary; exit 3 when ``fail_on`` is reached. A failing verdict is also
    said on stderr when stdout is quiet, so that it cannot go unseen."""
    from .apps import health_summary
    from .models.verdict import FAIL, overall_of, reaches

    health_summary.print_summary(console, found, rejected)
    status = overall_of(found)
    if console.quiet and status == FAIL:
        click.echo(f"expguard: {health_summary.one_line(found, FAIL)}", err=True)
    if fail_on is not None and reaches(status, fail_on):
        if not console.quiet or status != FAIL:
            click.echo(f"expguard: {health_summary.one_line(found, fail_on)}", err=True)
        sys.exit(health_summary.VERDICT_EXIT_CODE)


@main.command()
@click.option("--dir", "directory", default="expguard-demo", show_default=True, help="Folder for the demo data and outputs.")
@click.option("--events", "n_events", type=click.IntRange(min=1000), default=200_000, show_default=True, help="How many events to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed (the same seed gives the same data).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary table.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@handle_errors
def demo(directory: str, n_events: int, seed: int, quiet: bool, debug: bool) -> None:
    """Generate a realistic seeded dataset with known defects, run the pipeline, show a summary.

    \b
    Example:
      expguard demo --events 1000000 --dir /tmp/demo
    """
    from .apps.demo import run_demo

    console = _console(quiet)
    summary = run_demo(Path(directory), n_events=n_events, seed=seed, progress=progress_printer(console), broken=True)
    from rich.console import Console

    # Wide enough for the summary even when stdout is not a terminal (rich assumes 80 there).
    wide = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    wide.print(summary)
    console.print(f"models written to {directory}/expguard.duckdb and {directory}/output/")
    finish_with_verdicts(wide, summary.result.verdicts, summary.result.rejected, None)


@main.command(name="compile")
@click.argument("model", required=False)
@click.option("--dialect", default="duckdb", show_default=True,
              help="duckdb, spark, databricks, snowflake, bigquery, trino or postgres.")
@click.option("--all", "all_models", is_flag=True, help="Every model, in dependency order.")
@click.option("--var", "var", multiple=True, metavar="NAME=VALUE", help="Set a variable (repeatable).")
@click.option("--events-table", default=None, help="With --all: your canonical events table (default fct_events).")
@click.option("--assignments-table", default=None,
              help="With --all: your assignments table (default fct_experiment_assignments).")
@click.option("--schema", default=None, help="With --all: the schema the script creates its tables in.")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@handle_errors
def compile_command(model: str | None, dialect: str, all_models: bool, var: tuple[str, ...], events_table: str | None,
                    assignments_table: str | None, schema: str | None, debug: bool) -> None:
    """Print a model's SQL with the variables bound, in a dialect, for auditing; with --all, a
    runnable script of every SQL model for your warehouse.

    \b
    Example:
      expguard compile int_experiment_exposures_deduped --dialect spark
      expguard compile --all --dialect snowflake --events-table raw.exposures_canonical \\
          --assignments-table raw.assignments --schema expguard
    """
    from .models.compile import compile_model, compile_script
    from .settings.config import Variables, parse_var_options
    from .core.errors import ConfigError

    variables = Variables().with_values(parse_var_options(var)).as_dict()
    if all_models == (model is not None):
        raise ConfigError("give one MODEL or --all")
    if all_models:
        tables = {k: v for k, v in (("fct_events", events_table), ("fct_experiment_assignments", assignments_table)) if v}
        click.echo(compile_script(variables, dialect, tables, schema), nl=False)
        return
    sql = compile_model(model, variables, dialect, pretty=True)
    click.echo(f"-- model: {model}")
    click.echo(sql + ";\n")


ALERTS_EXIT_CODE = 3


@main.command(name="alerts")
@input_options
@click.option("--output-dir", default=None, help="Read the alerts of an earlier run that wrote this folder.")
@click.option("--database", default=None, help="Read the alerts of an earlier run that wrote this DuckDB file.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table for people, or a JSON array for scripts.")
@click.option("--fail-on", type=click.Choice(["warning", "critical"]), default=None,
              help=f"Exit {ALERTS_EXIT_CODE} when a listed alert has this severity or a worse one, "
                   "or a health verdict does (critical: fail).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only alerts dated on or after this day (YYYY-MM-DD).")
@click.option("--experiment", "experiments", multiple=True, metavar="ID", help="Only this experiment's alerts (repeatable).")
@handle_errors
def alerts_command(output_dir: str | None, database: str | None, fmt: str, fail_on: str | None, since: Any,
                   experiments: tuple[str, ...], debug: bool, **options: Any) -> None:
    """List exposure-quality alerts: from an earlier run's outputs, or built from the inputs.

    \b
    Example:
      expguard alerts --output-dir out/ --fail-on critical
      expguard alerts --events events.parquet --assignments assignments.parquet --format json
    Ends with the health verdicts of the same experiments. Exits 3 when --fail-on is given and a
    listed alert reaches that severity, or a verdict does (warning: warn or fail; critical: fail).
    """
    from .apps import alerts, health_summary
    from .core.constants import FCT_ALERTS, FCT_HEALTH
    from .core.errors import ConfigError
    from .models.verdict import overall_of, reaches, verdicts

    if output_dir is not None or database is not None:
        if output_dir is not None and database is not None:
            raise ConfigError("give one of --output-dir or --database to read alerts from")
        if options["events"] is not None or options["assignments"] is not None:
            raise ConfigError("give --output-dir/--database to read an earlier run, or inputs to build from; not both")
        refuse_build_options(options)
        found, health = alerts.read_run(output_dir=output_dir, database=database)
    else:
        from .runner.pipeline import build_tables

        tables = build_tables(config_from_options(**options), [FCT_ALERTS, FCT_HEALTH])
        found, health = tables[FCT_ALERTS].to_pylist(), tables[FCT_HEALTH].to_pylist()
    rows = alerts.select_alerts(found, since.date() if since else None, experiments)
    judged = verdicts(alerts.select_health(health, experiments))
    if fmt == "json":
        click.echo(alerts.alerts_json(rows))
        if reaches(overall_of(judged), "warn"):
            # The JSON stays a list of alerts for scripts; the verdict is not left unsaid.
            click.echo(f"expguard: {health_summary.one_line(judged, 'warn')}", err=True)
    else:
        from rich.console import Console

        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        console.print(alerts.alerts_table(rows) if rows else "no alerts")
        health_summary.print_summary(console, judged)
    if fail_on is not None and (alerts.reaches(rows, fail_on)
                                or reaches(overall_of(judged), alerts.VERDICT_FOR_SEVERITY[fail_on])):
        sys.exit(ALERTS_EXIT_CODE)


@main.command(name="report")
@input_options
@click.option("--output-dir", default=None, help="Report on an earlier run that wrote this folder.")
@click.option("--database", default=None, help="Report on an earlier run that wrote this DuckDB file.")
@click.option("--out", default="expguard-report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (one self-contained file; opens offline).")
@click.option("--experiment", "experiments", multiple=True, metavar="ID", help="Only this experiment (repeatable).")
@click.option("--title", default=None, help="Page title (default: expguard exposure report).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@handle_errors
def report_command(output_dir: str | None, database: str | None, out: str, experiments: tuple[str, ...],
                   title: str | None, quiet: bool, debug: bool, **options: Any) -> None:
    """Write an HTML report of exposure quality: overview, charts and captions per experiment.

    \b
    Example:
      expguard report --output-dir out/ --out report.html
      expguard report --events events.parquet --assignments assignments.parquet --experiment exp_01
    Reads an earlier run (--output-dir/--database), or builds the models from the inputs first.
    """
    from .core.errors import ConfigError
    from .apps.report import write_report
    from .apps.report.data import build_data, read_outputs

    if output_dir is not None or database is not None:
        if options["events"] is not None or options["assignments"] is not None:
            raise ConfigError("give --output-dir/--database to read an earlier run, or inputs to build from; not both")
        refuse_build_options(options)
        run = read_outputs(output_dir=output_dir, database=database)
    else:
        run = build_data(config_from_options(**options))
    result = write_report(run, out, experiments, title)
    if not quiet:
        from .apps.health_summary import headline
        from .models.verdict import verdicts

        click.echo(f"wrote {result.path} ({result.bytes / 1e6:.1f} MB): {result.experiments} experiment"
                   f"{'s' if result.experiments != 1 else ''}, {result.charts} charts")
        click.echo(headline(verdicts(run.only(experiments).health)))


@main.command(name="diagnose")
@input_options
@click.option("--experiment", "experiment", required=True, metavar="ID", help="The experiment to diagnose.")
@click.option("--date", "date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The assignment cohort to diagnose, YYYY-MM-DD (default: the latest complete cohort with an "
                   "exposure-rate drop, else the latest complete cohort).")
@click.option("--output-dir", default=None, help="Reuse the models of an earlier run that wrote this folder.")
@click.option("--database", default=None, help="Reuse the models of an earlier run that wrote this DuckDB file.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A short report for people, or the complete diagnosis as JSON for scripts.")
@handle_errors
def diagnose_command(experiment: str, date: Any, output_dir: str | None, database: str | None, fmt: str,
                     debug: bool, **options: Any) -> None:
    """Walk the exposure-rate-drop runbook for one experiment and say what it found.

    \b
    Checks the exposure event name, ingestion (missing days, lag), status spikes, raw vs deduped
    exposures and assignment volumes against the experiment's own baseline, then ranks the
    likely causes with their evidence and what to check next.
    \b
    Example:
      expguard diagnose --experiment exp_01 --events events.parquet --assignments assignments.parquet
      expguard diagnose --experiment exp_01 --output-dir out/ --events events.parquet --format json
    With --output-dir/--database the models of that run are reused; the event-name and
    ingestion checks still read the raw events (--events) and are skipped without them.
    """
    from .apps.diagnosis import config_from_cli, diagnose

    reading_outputs = output_dir is not None or database is not None
    if reading_outputs:
        # --var still names the exposure event(s) of the raw-event checks; --as-of shapes nothing
        refuse_build_options(options, ("as_of",))
    config = config_from_cli(options, reading_outputs)
    result = diagnose(config, experiment, date.date() if date else None, output_dir=output_dir, database=database)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        from rich.console import Console

        Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(result.render())


if __name__ == "__main__":  # pragma: no cover
    main()
