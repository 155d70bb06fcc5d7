from shopmail.domain.outbound.message_ids import (
    decode_aggregate,
    encode_aggregate,
    find_message_refs,
    make_message_id,
    parse_message_id,
)


def test_round_trip_plain_id() -> None:
    mid = make_message_id("OrderPlaced", "ORD-1001", "OrderPlaced:ORD-1001:c@x", "shop.example")
    assert mid.startswith("<sm.orderplaced.ORD-1001.") and mid.endswith("@shop.example>")
    ref = parse_message_id(mid)
    assert ref is not None and ref.kind == "orderplaced" and ref.aggregate_id == "ORD-1001"


def test_deterministic_and_key_sensitive() -> None:
    a = make_message_id("OrderShipped", "42", "k1", "d.example")
    assert a == make_message_id("OrderShipped", "42", "k1", "d.example")
    assert a != make_message_id("OrderShipped", "42", "k2", "d.example")


def test_unusual_ids_are_encoded_and_read_back() -> None:
    for agg in ["A/B 7", "Bestellung ä", "x.y", "=weird", "a" * 80]:
        token = encode_aggregate(agg)
        assert all(c.isalnum() or c in "=_-" for c in token)
        assert decode_aggregate(token) == agg
        mid = make_message_id("OrderPlaced", agg, "k", "shop.example")
        ref = parse_message_id(mid)
        assert ref is not None and ref.aggregate_id == agg


def test_foreign_domain_and_garbage() -> None:
    mid = make_message_id("OrderPlaced", "1", "k", "shop.example")
    assert parse_message_id(mid, "other.example") is None
    assert parse_message_id("<CAF=abc@mail.gmail.com>") is None
    refs = find_message_refs(["<a@b> " + mid, mid], "shop.example")
    assert [r.aggregate_id for r in refs] == ["1"]


def test_keyed_digest_cannot_be_computed_without_the_key() -> None:
    from shopmail.domain.outbound.message_ids import make_message_id, parse_message_id

    key = "OrderPlaced:ORD-1:kunde@example.org"
    plain = make_message_id("OrderPlaced", "ORD-1", key, "shop.example")
    keyed = make_message_id("OrderPlaced", "ORD-1", key, "shop.example", key="stack-secret")
    other = make_message_id("OrderPlaced", "ORD-1", key, "shop.example", key="other-stack")
    assert len({plain, keyed, other}) == 3
    assert keyed == make_message_id("OrderPlaced", "ORD-1", key, "shop.example", key="stack-secret")
    ref = parse_message_id(keyed, "shop.example")
    assert ref is not None and ref.aggregate_id == "ORD-1"  # replies still thread


def test_our_domain_is_recognised_in_any_case() -> None:
    mid = make_message_id("OrderPlaced", "ORD-7", "k", "shop.example")
    shouted = mid.replace("@shop.example>", "@SHOP.Example>")
    for value, domain in (
        (shouted, "shop.example"),
        (mid, "Shop.EXAMPLE"),
        (shouted, "SHOP.EXAMPLE"),
    ):
        ref = parse_message_id(value, domain)
        assert ref is not None and ref.aggregate_id == "ORD-7" and ref.domain == "shop.example"
    assert [r.aggregate_id for r in find_message_refs([shouted], "shop.example")] == ["ORD-7"]
