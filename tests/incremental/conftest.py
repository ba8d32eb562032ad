"""The Spark tests of incremental runs share the test run's one local SparkSession."""

from engines.conftest import spark  # noqa: F401 - the fixture, by name
