"""Which cfg_user_data_key mappings GCA publishes and which columns it adds (contract
``user-data.md``): the pure plan."""

from __future__ import annotations

from gim_faust.gca.user_data_columns import plan


def mapping(column: str, data_type: str = "text", max_length: int = 255) -> dict[str, object]:
    return {"column": column, "data_type": data_type, "max_length": max_length}


def test_the_dst_mappings() -> None:
    """dst's config.sql: five valid mappings and two the contract does not allow."""
    mappings = {"CustomerSegment": mapping("customer_segment", "text", 8),
                "AccountId": mapping("account_id", "integer"), "CSAT": mapping("csat", "numeric"),
                "Bad Key": mapping("Bad Column"), "Shadow": mapping("interaction_id")}
    result = plan(mappings, {})
    assert set(result.kept) == {"CustomerSegment", "AccountId", "CSAT"}
    assert sorted(result.added) == [("account_id", "bigint"), ("csat", "numeric"),
                                    ("customer_segment", "text")]
    assert set(result.ignored) == {"Bad Key", "Shadow"}
    assert "does not match" in result.ignored["Bad Key"]
    assert "of its own" in result.ignored["Shadow"]


def test_columns_are_never_retyped_and_never_shared() -> None:
    existing = {"segment": "text", "score": "bigint"}
    result = plan({"Score": mapping("score", "numeric"), "Segment": mapping("segment"),
                   "Tier": mapping("segment"), "Long": mapping("x" * 64)}, existing)
    assert set(result.kept) == {"Segment"} and result.added == []
    assert "exists as bigint" in result.ignored["Score"]
    assert "already holds key 'Segment'" in result.ignored["Tier"]
    assert "does not match" in result.ignored["Long"]


def test_a_removed_mapping_keeps_its_column_for_another_key_of_its_type() -> None:
    result = plan({"Language": mapping("old_column")}, {"old_column": "text"})
    assert set(result.kept) == {"Language"} and result.added == []
