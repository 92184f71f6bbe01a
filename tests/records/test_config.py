"""Source configuration: the example file, strict validation, secrets from the environment,
and the broker built from settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fieldid.config import Settings
from fieldid.errors import InvalidRequest
from fieldid.governance.roles import Role
from fieldid.records.config import build_sources, load_records_config, parse_records_config
from fieldid.records.federation import RecordBroker
from fieldid.records.http_source import HttpSource
from fieldid.records.sql_source import SqlSource
from tests.records.conftest import actor

EXAMPLE = Path(__file__).parents[2] / "docs" / "records.example.yaml"
ENV = {"COUNTY_RECORDS_URL": "postgresql+psycopg://reader@127.0.0.1:5432/county", "REGISTRY_TOKEN": "t0k3n"}


def minimal(**source) -> dict:
    base = {
        "name": "county",
        "type": "sql",
        "agencies": ["agency-a"],
        "sql": {
            "url": "sqlite://",
            "table": "t",
            "key_column": "k",
            "id_column": "i",
            "updated_column": "u",
            "fields": {"summary": "s", "status": "st"},
        },
    }
    base.update(source)
    return {"sources": [base]}


def test_the_example_file_builds(clock):
    config = load_records_config(EXAMPLE)
    sources = build_sources(config, clock=clock, environ=ENV)
    try:
        by_name = {s.name: s for s in sources}
        assert list(by_name) == ["county-records", "national-registry", "demo-police"]
        county, national = by_name["county-records"], by_name["national-registry"]
        assert isinstance(county.source, SqlSource) and isinstance(national.source, HttpSource)
        assert county.policy.agencies == {"agency-a", "agency-b"} and county.timeout_s == 1.5
        assert county.policy.agency_roles["agency-b"][Role.SUPERVISOR] == ("summary", "status", "opened_on")
        assert county.source.describe().key_system == "agency:agency-a"
        assert national.policy.federated_only and national.circuit_failures == 5
        assert national.source.endpoint.headers == {"Authorization": "Bearer t0k3n"}
        assert national.source.describe().fields == (
            "summary",
            "family_name",
            "given_names",
            "document_status",
        )
    finally:
        for s in sources:
            s.source.close()


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"acess": {"officer": "all"}}, "acess"),  # a typo is an error, not a silently ignored key
        ({"access": {"constable": "all"}}, "constable"),
        ({"access": {"officer": "everything"}}, "access.officer"),
        ({"access": {"officer": ["summary", "secret"]}}, "unknown fields ['secret']"),
        ({"summary_fields": ["nope"]}, "summary_fields"),
        ({"agency_access": {"agency-b": {"supervisor": ["x"]}}}, "agency_access.agency-b.supervisor"),
        ({"agencies": []}, "agencies"),
        ({"name": "Bad Name"}, "name"),
        ({"type": "ftp"}, "type"),
    ],
)
def test_mistakes_are_refused_with_the_place_named(change, problem, clock):
    with pytest.raises(InvalidRequest, match=problem.replace("[", r"\[").replace("]", r"\]")):
        build_sources(parse_records_config(minimal(**change)), clock=clock)


def test_duplicate_names_and_url_choices_are_refused(clock):
    raw = minimal()
    raw["sources"].append(raw["sources"][0])
    with pytest.raises(InvalidRequest, match="unique"):
        parse_records_config(raw)
    both = minimal()
    both["sources"][0]["sql"]["url_env"] = "X"
    with pytest.raises(InvalidRequest, match="exactly one of url and url_env"):
        parse_records_config(both)


def test_secrets_come_from_the_environment(clock):
    raw = minimal()
    raw["sources"][0]["sql"].pop("url")
    raw["sources"][0]["sql"]["url_env"] = "COUNTY_URL"
    with pytest.raises(InvalidRequest, match="COUNTY_URL is not set"):
        build_sources(parse_records_config(raw), clock=clock, environ={})
    (built,) = build_sources(parse_records_config(raw), clock=clock, environ={"COUNTY_URL": "sqlite://"})
    built.source.close()


def test_demo_sources_are_refused_in_production(clock):
    raw = {
        "sources": [
            {"name": "demo-police", "type": "demo", "agencies": ["*"], "demo": {"system": "demo-police"}}
        ]
    }
    with pytest.raises(InvalidRequest, match="refused in production"):
        build_sources(parse_records_config(raw), clock=clock, environment="production")
    with pytest.raises(InvalidRequest, match="kind"):
        parse_records_config({"sources": [{**raw["sources"][0], "kind": "operational"}]})


def test_broker_from_settings(tmp_path, clock):
    plain = RecordBroker.from_settings(Settings(data_dir=tmp_path, environment="test"), clock=clock)
    assert plain.source_names == []
    demo = RecordBroker.from_settings(Settings(data_dir=tmp_path, environment="test", demo=True), clock=clock)
    assert demo.source_names == ["demo-police", "demo-border", "demo-benefits"]
    config = tmp_path / "records.yaml"
    config.write_text(yaml.safe_dump(minimal()))
    settings = Settings(
        data_dir=tmp_path,
        environment="test",
        records_config=config,
        records_timeout_s=0.5,
        records_circuit_failures=4,
        records_circuit_cooldown_s=5,
    )
    configured = RecordBroker.from_settings(settings, clock=clock)
    try:
        assert configured.source_names == ["county"] and configured.timeout_s == 0.5
        assert configured._breakers["county"].failure_threshold == 4
        assert [v.name for v in configured.describe(actor(Role.OFFICER))] == ["county"]
    finally:
        for b in (plain, demo, configured):
            b.close()


def test_records_settings_are_documented():
    for name in (
        "records_config",
        "records_timeout_s",
        "records_circuit_failures",
        "records_circuit_cooldown_s",
    ):
        assert Settings.model_fields[name].description
