"""Table: HTML with the union of columns, CSV at full precision that reads back."""
import csv
import io

import numpy as np

from explorer import Table


def test_table_html_and_csv(tmp_path):
    t = Table([{"a": 1, "b": 0.123456}, {"a": 2, "c": np.float32(0.5), "b": "<x>"}])
    assert t.columns == ["a", "b", "c"]
    h = t._repr_html_()
    assert h.count("<tr>") == 3 and "0.123" in h and "0.123456" not in h and "&lt;x&gt;" in h
    text = t.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [{"a": "1", "b": "0.123456", "c": ""}, {"a": "2", "b": "<x>", "c": "0.5"}]
    assert Table([]).to_html() == "" and Table([]).to_csv() == "\n"


def test_table_prints_as_aligned_text():
    # print(Table(...)) showed the raw list of dicts (issue 23.9, geometry exercise 3)
    t = Table([{"layer": "fc1", "fc1": 1.0}, {"layer": "out", "fc1": np.float32(0.25), "out": 1}])
    assert str(t).splitlines() == ["layer    fc1  out",
                                   "-----  -----  ---",
                                   "  fc1  1.000",
                                   "  out  0.250    1"]
    assert str(Table([])) == "" and repr(t).startswith("[{")
