import numpy as np
import pandas as pd
import pytest

from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.files import atomic_write_text, check_output_path
from scalecmp.io import (
    apply_where,
    load_measurement_file,
    parse_where,
    prepare_measurements,
)

FRAME = pd.DataFrame(
    {
        "c": [1e6, 1e7, 1e8, 1e9],
        "acc": [0.1, 0.2, 0.4, 0.5],
        "proc": ["clip", "clip", "mammut", "mammut"],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".tsv"])
def test_formats_round_trip(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    if suffix == ".csv":
        FRAME.to_csv(path, index=False)
    elif suffix == ".tsv":
        FRAME.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        FRAME.to_parquet(path)
    else:
        FRAME.to_json(path, orient="records", lines=True)
    pd.testing.assert_frame_equal(load_measurement_file(path), FRAME, check_dtype=False)


def test_load_errors_are_one_line_data_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_measurement_file(tmp_path / "missing.csv")
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        load_measurement_file(tmp_path / "m.xlsx")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read") as info:
        load_measurement_file(tmp_path / "bad.parquet")
    assert "\n" not in str(info.value)
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="no rows"):
        load_measurement_file(tmp_path / "empty.csv")


def test_where_operators():
    assert len(apply_where(FRAME, ["proc=clip"])) == 2
    assert len(apply_where(FRAME, ["proc!=clip"])) == 2
    assert len(apply_where(FRAME, ["c<=1e7"])) == 2
    assert len(apply_where(FRAME, ["c<1e7"])) == 1
    assert len(apply_where(FRAME, ["c>1e7", "proc=mammut"])) == 2
    assert len(apply_where(FRAME, ["c>=1e9"])) == 1
    assert len(apply_where(FRAME, ["acc==0.5"])) == 1


def test_where_errors():
    with pytest.raises(UsageError, match="expected COL=VALUE"):
        parse_where(["novalue"])
    with pytest.raises(DataError, match="no column 'zz'"):
        apply_where(FRAME, ["zz=1"])
    with pytest.raises(DataError, match="is not a number"):
        apply_where(FRAME, ["c=big"])
    with pytest.raises(DataError, match="needs a numeric column"):
        apply_where(FRAME, ["proc<clip"])
    with pytest.raises(DataError, match="no rows left"):
        apply_where(FRAME, ["proc=siglip"])


def test_prepare_validates_columns_and_values():
    with pytest.raises(DataError, match="^x: no column 'gflops'"):
        prepare_measurements(FRAME, "gflops", "acc")
    with pytest.raises(DataError, match="^by: no column 'model'"):
        prepare_measurements(FRAME, "c", "acc", by=["model"])
    with pytest.raises(DataError, match="non-numeric"):
        prepare_measurements(FRAME, "c", "proc")
    neg = FRAME.assign(c=[-1.0, 1e7, 1e8, 1e9])
    with pytest.raises(DataError, match="must be > 0"):
        prepare_measurements(neg, "c", "acc")
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        prepare_measurements(FRAME.assign(acc=[0.1, 0.2, 1.2, 0.5]), "c", "acc", maximize=True)


def test_prepare_drops_nan_rows_with_a_count():
    frame = FRAME.assign(acc=[0.1, np.nan, 0.4, 0.5])
    with pytest.warns(ScalecmpWarning, match="dropped 1 of 4 rows with NaN in acc"):
        out = prepare_measurements(frame, "c", "acc")
    assert len(out) == 3
    strings = FRAME.assign(acc=["0.1", "0.2", "0.4", "0.5"])
    assert prepare_measurements(strings, "c", "acc")["acc"].dtype == float


def test_outputs_never_replace_inputs_or_existing_files(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("keep me")
    with pytest.raises(UsageError, match="over input"):
        check_output_path(data, force=True, inputs=[data])
    with pytest.raises(UsageError, match="pass `force`"):
        check_output_path(data, force=False)
    assert data.read_text() == "keep me"
    out = check_output_path(tmp_path / "new" / "out.json")
    assert not out.parent.exists()  # checking creates nothing; writing creates the folder
    atomic_write_text(out, "{}")
    assert out.read_text() == "{}" and not list(out.parent.glob(".*tmp"))


@pytest.mark.parametrize("orient", ["records", "columns", "split", "table", "lines"])
def test_a_json_file_is_read_as_a_table(tmp_path, orient):
    """A JSON array of records in a ``.json`` file was read as JSON Lines: one row whose
    columns were 0, 1, 2, ... (and the error listed those)."""
    path = tmp_path / "m.json"
    FRAME.to_json(path, orient="records" if orient == "lines" else orient,
                  lines=orient == "lines")
    pd.testing.assert_frame_equal(load_measurement_file(path), FRAME, check_dtype=False)


@pytest.mark.parametrize("text, needle", [
    ("[1, 2, 3]", "a JSON array of 3 items, 3 of them not records (item 0 is a number)"),
    ('[{"c": 1}, [1, 2]]', "1 of them not records (item 1 is an array)"),
    ("42", "the JSON holds a number, not a table"),
    ('"c,acc"', "the JSON holds a string, not a table"),
    ('{"c": [1, 2], "acc": 3}', "mixes columns (arrays) and single values"),
    ('{"c": [1, 2], "acc": [3]}', "an object of columns that do not form a table"),
    ('[{"c": 1},', "not valid JSON (Expecting value at line 1, column 11)"),
])
def test_json_that_is_not_a_table_is_one_line(tmp_path, text, needle):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(DataError, match="^cannot read ") as info:
        load_measurement_file(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_multiindex_and_duplicate_columns_are_one_data_error():
    """A frame with MultiIndex columns, or two columns of one name, raised TypeError from
    deep inside pandas: one DataError line naming the parameter."""
    import scalecmp

    multi = FRAME.copy()
    multi.columns = pd.MultiIndex.from_tuples([("x", "c"), ("y", "acc"), ("g", "proc")])
    with pytest.raises(DataError, match=r"^the frame's columns have 2 levels \(a MultiIndex"):
        prepare_measurements(multi, "c", "acc")
    dup = pd.concat([FRAME, FRAME[["acc"]]], axis=1)
    with pytest.raises(DataError, match=r"^y: the frame has 2 columns named 'acc': rename"):
        prepare_measurements(dup, "c", "acc")
    with pytest.raises(DataError, match=r"^where: the frame has 2 columns named 'acc'"):
        apply_where(dup, ["acc>0.1"])
    twice = pd.concat([FRAME, FRAME[["proc"]]], axis=1)
    with pytest.raises(DataError, match=r"^by: the frame has 2 columns named 'proc'"):
        scalecmp.fit(twice, x="c", y="acc", by="proc", n_bootstrap=0, law="power")
    from scalecmp.compare import compare

    with pytest.raises(DataError, match=r"^by: the frame has 2 columns named 'proc'"):
        compare(twice, x="c", y="acc", by="proc", n_bootstrap=20, law="power")
    # a copy of a column the analysis does not read is no matter
    assert len(prepare_measurements(twice, "c", "acc")) == 4
