"""``scripts/products``: a vendor's product OIDs from its MIB text, resolved
through parents defined in the same files, comments ignored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "products"

SMI = """ACME-SMI DEFINITIONS ::= BEGIN
IMPORTS enterprises FROM SNMPv2-SMI;
acme MODULE-IDENTITY
    LAST-UPDATED "202001010000Z"
    DESCRIPTION "the { enterprises 1 } root -- not this one"
    ::= { enterprises 99999 }
acmeProducts OBJECT-IDENTITY
    STATUS current
    DESCRIPTION "products"
    ::= { acme 1 }
acmeMib OBJECT IDENTIFIER ::= { acme 2 }
END
"""
PRODUCTS = """ACME-PRODUCTS-MIB DEFINITIONS ::= BEGIN
-- routerOld OBJECT IDENTIFIER ::= { acmeProducts 7 }
router1 OBJECT IDENTIFIER ::= { acmeProducts 12 }  -- the big one
switch-2 OBJECT IDENTIFIER ::= { acmeProducts 3 }
switchFamily OBJECT IDENTIFIER ::= { acmeProducts 100 }
switch48 OBJECT IDENTIFIER ::= { switchFamily 48 }
acmeMibObject OBJECT IDENTIFIER ::= { acmeMib 1 }
END
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "ACME-SMI").write_text(SMI)
    (tmp_path / "ACME-PRODUCTS-MIB").write_text(PRODUCTS)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=tmp_path
    )


def test_products_under_the_root_in_oid_order(tmp_path: Path) -> None:
    got = run(tmp_path, "--name", "acme", "--under", "1.3.6.1.4.1.99999.1",
              "ACME-SMI", "ACME-PRODUCTS-MIB")  # fmt: skip
    assert got.returncode == 0, got.stderr
    table = yaml.safe_load(got.stdout)
    assert table["name"] == "acme"
    assert list(table["values"].items()) == [
        ("1.3.6.1.4.1.99999.1.3", "switch-2"),
        ("1.3.6.1.4.1.99999.1.12", "router1"),
        ("1.3.6.1.4.1.99999.1.100", "switchFamily"),
        ("1.3.6.1.4.1.99999.1.100.48", "switch48"),
    ]


def test_no_product_under_the_root_is_an_error(tmp_path: Path) -> None:
    got = run(tmp_path, "--name", "acme", "--under", "1.3.6.1.4.1.1", "ACME-SMI")
    assert got.returncode != 0
    assert "no OID under 1.3.6.1.4.1.1" in got.stderr
    assert "Traceback" not in got.stderr
