"""Configuration: precedence, environment parsing and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gethook_lite.cli import config_template
from gethook_lite.config import ConfigError, load_settings


def test_defaults_work_without_any_file():
    settings = load_settings(env={})
    assert settings.server.port == 8080
    assert settings.accounts.signup == "auto"
    assert settings.signup_policy == "open"  # on loopback
    assert settings.server.base_url() == "http://127.0.0.1:8080"


def test_precedence_flags_over_env_over_file(tmp_path):
    config = tmp_path / "gethook.toml"
    config.write_text('[server]\nport = 7000\nlog_level = "debug"\n')
    env = {"GETHOOK_SERVER_PORT": "7100"}
    assert load_settings(config, env={}).server.port == 7000
    assert load_settings(config, env=env).server.port == 7100
    assert load_settings(config, env=env, overrides={"server.port": 7200}).server.port == 7200
    assert load_settings(config, env=env).server.log_level == "debug"


def test_env_parses_bools_and_lists():
    env = {
        "GETHOOK_DELIVERY_ALLOW_PRIVATE_NETWORKS": "false",
        "GETHOOK_DELIVERY_DENY_CIDRS": "10.0.0.0/8, 192.168.0.0/16",
    }
    delivery = load_settings(env=env).delivery
    assert delivery.allow_private_networks is False
    assert delivery.deny_cidrs == ["10.0.0.0/8", "192.168.0.0/16"]


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GETHOOK_SERVER_PORT": "eighty"}, "server.port"),
        ({"GETHOOK_SERVER_PORT": "70000"}, "server.port"),
        ({"GETHOOK_ACCOUNTS_SIGNUP": "maybe"}, "accounts.signup"),
        ({"GETHOOK_ACCOUNTS_SIGNUP": "token"}, "accounts.signup_token"),
        ({"GETHOOK_SERVER_PUBLIC_BASE_URL": "hooks.example.com"}, "server.public_base_url"),
        ({"GETHOOK_DELIVERY_DENY_CIDRS": "not-a-cidr"}, "delivery.deny_cidrs"),
        ({"GETHOOK_STORAGE_SYNCHRONOUS": "off"}, "storage.synchronous"),
    ],
)
def test_bad_values_name_the_key(env, key):
    with pytest.raises(ConfigError) as error:
        load_settings(env=env)
    assert str(error.value).startswith(key)


def test_unknown_key_in_file_is_refused(tmp_path):
    config = tmp_path / "gethook.toml"
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match="server"):
        load_settings(config, env={})


def test_example_file_matches_template_and_loads():
    example = Path(__file__).parents[2] / "gethook.toml.example"
    assert example.read_text() == config_template()
    settings = load_settings(example, env={})
    assert settings == load_settings(env={})


def test_named_file_wins_over_working_directory_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gethook.toml").write_text("[server]\nport = 7001\n")
    named = tmp_path / "named.toml"
    named.write_text("[server]\nport = 7002\n")
    cwd_default = "gethook.toml"
    assert load_settings(env={}, default_file=cwd_default).server.port == 7001
    env = {"GETHOOK_CONFIG": str(named)}
    assert load_settings(env=env, default_file=cwd_default).server.port == 7002
    assert load_settings(named, env={}, default_file=cwd_default).server.port == 7002


def test_named_file_that_is_missing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gethook.toml").write_text("[server]\nport = 7001\n")
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"GETHOOK_CONFIG": missing}, default_file="gethook.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(missing, env={}, default_file="gethook.toml")


def test_cli_uses_gethook_config_over_working_directory_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gethook_lite.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "gethook.toml").write_text('[storage]\ndata_dir = "from-cwd"\n')
    (tmp_path / "named.toml").write_text('[storage]\ndata_dir = "from-named"\n')
    env = {"GETHOOK_CONFIG": str(tmp_path / "named.toml")}
    result = CliRunner().invoke(main, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-named").is_dir() and not (tmp_path / "from-cwd").exists()
    result = CliRunner().invoke(main, ["migrate"], env={"GETHOOK_CONFIG": "missing.toml"})
    assert result.exit_code != 0 and "missing.toml does not exist" in result.output


def test_misspelt_variable_of_our_section_is_refused_naming_the_closest_key():
    with pytest.raises(ConfigError) as error:
        load_settings(env={"GETHOOK_SERVER_PROT": "9000"})
    message = str(error.value)
    assert "GETHOOK_SERVER_PROT" in message and "GETHOOK_SERVER_PORT" in message
    with pytest.raises(ConfigError, match="GETHOOK_DELIVERY_CONCURENCY"):
        load_settings(env={"GETHOOK_DELIVERY_CONCURENCY": "3"})


def test_variables_of_other_sections_stay_allowed():
    env = {
        "GETHOOK_API_KEY": "hk_x",
        "GETHOOK_API_URL": "http://127.0.0.1:8080",
        "GETHOOK_CONFIG": "",
        "GETHOOK_SERVER_PORT": "9001",
    }
    assert load_settings(env=env).server.port == 9001
