"""A family from outside the package: an installed distribution that names it in the
`localcall.formats` entry-point group is registered, detected and used, without any change
to localcall. The distribution is real metadata on sys.path (a .dist-info folder), as pip
would install it."""

from __future__ import annotations

import sys
import textwrap

import pytest

from localcall import formats
from localcall.vocab import SpecialTokens

FAMILY = textwrap.dedent('''
    from localcall.formats.base import register
    from localcall.formats.hermes import HermesFormat


    @register
    class AcmeFormat(HermesFormat):
        """Hermes-style calls, for templates that carry the <|acme|> marker."""
        name = "acme"

        @classmethod
        def detect(cls, template, special):
            return 50 if template and "<|acme|>" in template else 0
''')


def install(root, name: str, module: str, target: str) -> None:
    (root / f"{module}.py").write_text(FAMILY if module != "broken_family" else "raise ImportError('no')\n")
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[localcall.formats]\n{module} = {target}\n")


@pytest.fixture
def site(tmp_path):
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    formats.FORMATS.pop("acme", None)
    for module in ("acme_family", "broken_family"):
        sys.modules.pop(module, None)


def test_a_module_entry_point_registers_its_family(site):
    install(site, "acme-formats", "acme_family", "acme_family")
    assert "acme" in formats.load_plugins()
    special = SpecialTokens(bos_id=None, eos_id=None)
    assert formats.detect_format("<|acme|>{{ messages }}", special) == "acme"
    assert formats.get_format("acme").call_syntax(special).trigger == "<tool_call>"


def test_a_class_entry_point_is_registered(site):
    install(site, "acme-formats", "acme_family", "acme_family:AcmeFormat")
    assert "acme" in formats.load_plugins()


def test_a_broken_plugin_is_logged_and_skipped(site, caplog):
    install(site, "broken-formats", "broken_family", "broken_family")
    assert formats.load_plugins() == []
    assert "broken_family" in caplog.text and "did not load" in caplog.text
    assert "hermes" in formats.FORMATS
