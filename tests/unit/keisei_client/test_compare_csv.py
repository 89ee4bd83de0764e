"""``keisei compare --csv`` rows: a string cell from the portal never reaches a spreadsheet
as a formula; numbers, negative ones included, stay numbers."""

from keisei_client.commands.files import spreadsheet_safe


def test_string_cells_are_neutralised_and_numbers_kept():
    rows = [
        {"run": '=HYPERLINK("http://evil.example")', "last": -1.5, "min": None, "points": 3},
        {"run": 7, "last": 0.25, "min": -2.0, "points": 0},
    ]
    assert spreadsheet_safe(rows) == [
        {"run": '\'=HYPERLINK("http://evil.example")', "last": -1.5, "min": None, "points": 3},
        {"run": 7, "last": 0.25, "min": -2.0, "points": 0},
    ]
