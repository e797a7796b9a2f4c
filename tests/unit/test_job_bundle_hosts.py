"""The job bundle's host list: typos fail at export, not as a silent hang on the cluster."""

from __future__ import annotations

import pytest

from gpu_assistant.jobs import UserError
from gpu_assistant.training.job_bundle import parse_hosts, tf_config


def test_hosts_are_split_and_trimmed() -> None:
    assert parse_hosts(" a.example:2222, 10.0.0.2:2223 ,[::1]:9000") == [
        "a.example:2222",
        "10.0.0.2:2223",
        "[::1]:9000",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "names no worker"),
        ("host", "not host:port"),
        ("host:0", "not host:port"),
        ("host:70000", "not host:port"),
        (":2222", "not host:port"),
        ("[nope]:2222", "invalid IPv6"),
        ("a b:2222", "not a host name"),
        ('x";import os:1', "not a host name"),
        ("a:1,a:1", "same worker twice"),
    ],
)
def test_bad_hosts_are_refused_with_the_fix(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        parse_hosts(text)
    assert "host:port" in caught.value.fix


def test_each_worker_gets_its_own_index_in_the_same_cluster() -> None:
    hosts = ["a:1", "b:2"]
    assert tf_config(hosts, 1) == {
        "cluster": {"worker": hosts},
        "task": {"type": "worker", "index": 1},
    }
