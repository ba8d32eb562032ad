"""Shared fixtures of the engine tests: one local SparkSession for the whole test run.

Spark's start-up costs about 10 s, so every Spark test shares one session: two cores, two
shuffle partitions, no adaptive execution, no UI, UTC. The Spark engine finds this running context and works in a
child session of it (``newSession()``), exactly as it does in a user's notebook.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def _java_available() -> bool:
    return bool(os.environ.get("JAVA_HOME") or shutil.which("java"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The test run's one local SparkSession (the Spark tests skip, with a reason, without pyspark or Java).
    Its warehouse (where a test's ``create database`` puts its folder) is a temporary folder, not
    ``spark-warehouse/`` in the working directory: the tests leave nothing in the checkout."""
    pytest.importorskip("pyspark", reason="the spark tests need pyspark (pip install 'expguard[spark]')")
    if not _java_available():
        pytest.skip("the spark tests need Java 17 or 21 (JAVA_HOME or java on PATH)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        # Where a Spark Connect server listens if a test starts one (see spark_connect_url).
        .config("spark.connect.grpc.binding.port", str(_free_port()))
        .appName("expguard-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # Adaptive execution re-plans every stage; on test-sized data that only adds time.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def spark_connect_url(spark):
    """``sc://localhost:PORT`` of a Spark Connect server started inside the test run's context.

    The server shares the local JVM (no second Spark start-up); the Spark engine then talks to
    it as a Connect client, as it would to a remote cluster.
    """
    for module in ("grpc", "grpc_status", "google.rpc", "zstandard", "pandas"):
        pytest.importorskip(module, reason="Spark Connect tests need pip install 'pyspark[connect]'")
    jvm = spark.sparkContext._jvm
    service = getattr(jvm, "org.apache.spark.sql.connect.service.SparkConnectService")
    service.start(spark.sparkContext._jsc.sc())
    yield f"sc://localhost:{spark.conf.get('spark.connect.grpc.binding.port')}"
    service.stop(jvm.scala.Option.apply(None), jvm.scala.Option.apply(None))


@pytest.fixture(scope="module")
def spark_engine(spark):
    """A Spark engine (a child session of the shared one), kept for one test module."""
    from expguard.settings.config import EngineSettings
    from expguard.engines import create_engine

    engine = create_engine(EngineSettings(name="spark"))
    yield engine
    engine.close()
