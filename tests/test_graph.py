"""The graph passes, one concern at a time: wiring (fan-in, fan-out, arity, references),
outputs and unused branches, merge shapes (broadcasting, concatenation), the receptive
field through merges, and error recovery across passes.

Each spec is small and written to a temporary YAML file, then run through the whole front
half (`check_file`), so positions are the ones a user sees: (line, column), 1-based. With
`HEAD` below, ``layers[i]`` is on line ``5 + i`` and its mapping opens at column 5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specgen.check import FileResult, check_file
from specgen.diagnostics import Diagnostic, format_json_path
from specgen.formulas import broadcast_shapes, concatenate_output_shape
from specgen.graph import (
    INPUT_FIELD,
    Graph,
    Node,
    NodeKind,
    ReceptiveField,
    receptive_field_pass,
)

HEAD = "specgen: 1\nname: net\ninput: {shape: [8, 8, 4]}\nlayers:\n"


def run(tmp_path: Path, layers: str, tail: str = "", head: str = HEAD) -> FileResult:
    path = tmp_path / "net.yaml"
    path.write_text(head + layers + tail, encoding="utf-8")
    return check_file(path)


def where(d: Diagnostic) -> tuple[int, int] | None:
    return (d.position.line, d.position.column) if d.position is not None else None


def found(result: FileResult) -> list[tuple[str, tuple[int, int] | None, str]]:
    """(code, (line, column), JSON path) of every finding, in report order."""
    return [(d.code, where(d), format_json_path(d.json_path)) for d in result.report.diagnostics]


def graph_of(result: FileResult) -> Graph:
    assert result.report.diagnostics == []
    assert result.graph is not None
    return result.graph


def rf(
    size: int | tuple[int, int], jump: int, start: float | tuple[float, float]
) -> ReceptiveField:
    sizes = size if isinstance(size, tuple) else (size, size)
    starts = start if isinstance(start, tuple) else (start, start)
    return ReceptiveField.of(sizes, (jump, jump), (float(starts[0]), float(starts[1])))


# --- fan-in and fan-out ------------------------------------------------------------------------


def test_a_merge_gets_its_inputs_in_the_written_order(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, inputs: input}\n"
            "  - {name: c, type: conv2d, filters: 4, kernel_size: 1, inputs: [a]}\n"
            "  - {name: m, type: add, inputs: [c, input, b]}\n",
        )
    )
    m = graph.nodes["m"]
    assert m.inputs == ["c", "input", "b"]
    assert m.input_shapes == [(8, 8, 4), (8, 8, 4), (8, 8, 4)]
    assert m.output == (8, 8, 4)
    # Each producer lists the merge once, among its users in layer order.
    assert graph.nodes["input"].users == ["a", "b", "m"]
    assert graph.nodes["c"].users == ["m"]
    assert graph.nodes["b"].users == ["m"]


def test_inputs_as_a_single_name_is_the_one_element_list(tmp_path: Path) -> None:
    layers = (
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, inputs: INPUTS}\n"
        "  - {name: m, type: add, inputs: [a, b]}\n"
    )
    scalar = graph_of(run(tmp_path, layers.replace("INPUTS", "input")))
    listed = graph_of(run(tmp_path, layers.replace("INPUTS", "[input]")))
    assert scalar.nodes["b"].inputs == listed.nodes["b"].inputs == ["input"]
    assert [n.inputs for n in scalar] == [n.inputs for n in listed]
    assert [n.users for n in scalar] == [n.users for n in listed]


def test_a_single_name_for_a_merge_is_one_input_too(tmp_path: Path) -> None:
    layers = (
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: s, type: add, inputs: INPUTS}\n"
    )
    scalar = run(tmp_path, layers.replace("INPUTS", "a")).report.diagnostics
    listed = run(tmp_path, layers.replace("INPUTS", "[a]")).report.diagnostics
    assert [(d.code, d.message, d.json_path) for d in scalar] == [
        (d.code, d.message, d.json_path) for d in listed
    ]
    assert [d.message for d in scalar] == ["layer 's' (add): takes at least 2 inputs, got 1"]


def test_fan_out_lists_every_user_in_order(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
            "  - {name: b, type: conv2d, filters: 2, kernel_size: 1, inputs: a}\n"
            "  - {name: c, type: conv2d, filters: 3, kernel_size: 1, inputs: a}\n"
            "  - {name: d, type: conv2d, filters: 5, kernel_size: 1, inputs: a}\n"
            "  - {name: cat, type: concatenate, inputs: [d, b, c]}\n",
        )
    )
    assert graph.nodes["a"].users == ["b", "c", "d"]
    for name in ("b", "c", "d"):
        assert graph.nodes[name].inputs == ["a"]
        assert graph.nodes[name].users == ["cat"]
    cat = graph.nodes["cat"]
    assert cat.inputs == ["d", "b", "c"]
    assert cat.input_shapes == [(8, 8, 5), (8, 8, 2), (8, 8, 3)]
    assert cat.output == (8, 8, 10)
    assert cat.users == ["output_0"]


# --- arity (SG109) -----------------------------------------------------------------------------


def test_add_with_one_input_is_sg109(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: s, type: add, inputs: [a]}\n",
    )
    assert found(result) == [("SG109", (6, 34), "$.layers[1].inputs")]
    (d,) = result.report.diagnostics
    assert d.message == "layer 's' (add): takes at least 2 inputs, got 1"
    assert d.hint is not None and "inputs: [" in d.hint
    assert result.graph is None


def test_a_merge_without_inputs_reads_only_the_previous_layer(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n  - {name: s, type: add}\n",
    )
    # No `inputs` key: the finding is on the layer's mapping.
    assert found(result) == [("SG109", (6, 5), "$.layers[1]")]
    assert result.report.diagnostics[0].message.endswith("takes at least 2 inputs, got 1")


def test_subtract_with_three_inputs_is_sg109(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: s, type: subtract, inputs: [input, a, b]}\n",
    )
    assert found(result) == [("SG109", (7, 39), "$.layers[2].inputs")]
    assert result.report.diagnostics[0].message == (
        "layer 's' (subtract): takes exactly 2 inputs, got 3"
    )


def test_conv2d_with_two_inputs_is_sg109_with_a_merge_hint(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: c, type: conv2d, filters: 4, kernel_size: 1, inputs: [input, a]}\n",
    )
    assert found(result) == [("SG109", (6, 65), "$.layers[1].inputs")]
    (d,) = result.report.diagnostics
    assert d.message == "layer 'c' (conv2d): takes exactly 1 input, got 2"
    assert d.hint is not None
    assert "merge layer" in d.hint
    assert "add" in d.hint and "concatenate" in d.hint


# --- references (SG108, SG107) -----------------------------------------------------------------


def test_an_unknown_input_is_sg108_with_did_you_mean(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: conv_a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: s, type: add, inputs: [input, conv_b]}\n",
    )
    assert [d.code for d in result.report.diagnostics] == ["SG108"]
    (d,) = result.report.diagnostics
    assert d.message == "layer 's' (add): input 'conv_b' is not a layer name"
    assert d.hint == "did you mean 'conv_a'?"
    assert d.position is not None and d.position.line == 6
    assert result.graph is None


def test_an_unknown_input_is_reported_at_its_entry_in_the_list(tmp_path: Path) -> None:
    """Two wrong names in one list are two findings at two places, like the same mistake
    inside a block (`$.blocks.b.layers[3].inputs[2]`) and in `outputs` (`$.outputs[1]`)."""
    result = run(
        tmp_path,
        "  - {name: conv_a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: s, type: add, inputs: [input, conv_b, conv_c]}\n",
    )
    # Columns 42 and 50: the names conv_b and conv_c themselves, not the list at 34.
    assert found(result) == [
        ("SG108", (6, 42), "$.layers[1].inputs[1]"),
        ("SG108", (6, 50), "$.layers[1].inputs[2]"),
    ]


def test_an_input_from_a_later_layer_is_sg108_comes_after(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1, inputs: [b]}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, inputs: input}\n",
    )
    assert found(result) == [("SG108", (5, 66), "$.layers[0].inputs[0]")]
    (d,) = result.report.diagnostics
    assert d.message == "layer 'a' (conv2d): input 'b' comes after this layer"
    assert d.hint == "a layer can only take inputs from layers before it"


def test_a_layer_reading_itself_is_not_said_to_come_after_itself(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: m, type: add, inputs: [a, m]}\n",
    )
    assert [d.code for d in result.report.diagnostics] == ["SG108"]
    message = result.report.diagnostics[0].message
    assert "'m'" in message
    assert "comes after" not in message  # 'm' is this very layer, not a later one


def test_input_is_always_a_valid_input(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 1}\n"
            "  - {name: m, type: maximum, inputs: [input, input, b]}\n"
            "  - {name: d, type: conv2d, filters: 4, kernel_size: 1, inputs: input}\n",
            "outputs: [d, m]\n",
        )
    )
    assert graph.nodes["m"].inputs == ["input", "input", "b"]
    assert graph.nodes["m"].input_shapes == [(8, 8, 4)] * 3
    assert graph.nodes["d"].inputs == ["input"]
    assert graph.nodes["d"].input_shapes == [(8, 8, 4)]


def test_an_unknown_output_is_sg108_at_its_entry(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: conv1, type: conv2d, filters: 4, kernel_size: 1}\n",
        "outputs:\n  - conv1\n  - conv2\n",
    )
    assert found(result) == [("SG108", (8, 5), "$.outputs[1]")]
    (d,) = result.report.diagnostics
    assert d.message == "outputs: 'conv2' is not a layer name"
    assert d.hint == "did you mean 'conv1'?"
    assert result.graph is None


def test_an_unknown_output_in_a_flow_list_is_at_its_entry(tmp_path: Path) -> None:
    result = run(
        tmp_path, "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n", "outputs: [a, zzz]\n"
    )
    assert found(result) == [("SG108", (6, 14), "$.outputs[1]")]
    assert result.report.diagnostics[0].message == "outputs: 'zzz' is not a layer name"


def test_the_hint_for_an_unknown_output_does_not_suggest_input(tmp_path: Path) -> None:
    # `outputs` takes layer names only: 'input' there is refused (SG104).
    result = run(
        tmp_path, "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n", "outputs: [a, zzz]\n"
    )
    (d,) = result.report.diagnostics
    assert d.hint is not None
    assert "'input'" not in d.hint


def test_input_listed_in_outputs_is_one_error(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n",
        "outputs: [input, a]\n",
    )
    # One mistake, one finding: 'input' is reserved (SG104); no SG108 twin at the same place.
    assert found(result) == [("SG104", (6, 11), "$.outputs[0]")]
    assert "'input' is reserved for the model input" in result.report.diagnostics[0].message


def test_a_name_listed_twice_in_outputs_is_sg107(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1}\n",
        "outputs: [b, a, b]\n",
    )
    assert found(result) == [("SG107", (7, 17), "$.outputs[2]")]
    (d,) = result.report.diagnostics
    assert d.message == "outputs: 'b' is listed twice"
    assert d.hint == "list it once"
    assert result.graph is None


# --- unused branches (SG110) and outputs -------------------------------------------------------

BRANCH = (
    "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
    "  - {name: side, type: conv2d, filters: 4, kernel_size: 1}\n"
    "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, inputs: a}\n"
)


def test_an_unconsumed_side_branch_is_sg110_on_that_layer_only(tmp_path: Path) -> None:
    result = run(tmp_path, BRANCH)
    assert found(result) == [("SG110", (6, 5), "$.layers[1]")]
    (d,) = result.report.diagnostics
    assert d.message == (
        "layer 'side' (conv2d): its output is never used and it is not a model output"
    )
    assert d.hint is not None and "'outputs'" in d.hint
    assert result.graph is None


def test_listing_the_side_branch_in_outputs_makes_it_valid(tmp_path: Path) -> None:
    graph = graph_of(run(tmp_path, BRANCH, "outputs: [b, side]\n"))
    assert [n.name for n in graph.outputs] == ["b", "side"]
    assert [(o.name, o.node_kind, o.inputs, o.path) for o in graph.output_nodes] == [
        ("output_0", NodeKind.OUTPUT, ["b"], ("outputs", 0)),
        ("output_1", NodeKind.OUTPUT, ["side"], ("outputs", 1)),
    ]
    assert graph.nodes["a"].users == ["side", "b"]
    assert graph.nodes["side"].users == ["output_1"]
    assert graph.nodes["b"].users == ["output_0"]
    assert graph.output.name == "b"


def test_with_outputs_an_unused_last_layer_is_sg110(tmp_path: Path) -> None:
    # The last layer is the default output only when there is no `outputs`.
    result = run(tmp_path, BRANCH, "outputs: [side]\n")
    assert found(result) == [("SG110", (7, 5), "$.layers[2]")]
    (d,) = result.report.diagnostics
    assert d.message.startswith("layer 'b' (conv2d): its output is never used")
    assert d.hint == "feed it to a later layer through 'inputs', list it in 'outputs', or remove it"


def test_graph_outputs_follow_the_spec_order(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
            "  - {name: b, type: conv2d, filters: 5, kernel_size: 1, inputs: input}\n"
            "  - {name: c, type: global_avg_pool2d, inputs: input}\n"
            "  - {name: d, type: dense, units: 3}\n",
            "outputs: [d, a, c, b]\n",
        )
    )
    assert [n.name for n in graph.outputs] == ["d", "a", "c", "b"]
    assert [o.name for o in graph.output_nodes] == ["output_0", "output_1", "output_2", "output_3"]
    assert [o.output for o in graph.output_nodes] == [(3,), (8, 8, 4), (4,), (8, 8, 5)]
    assert graph.output.name == "d"
    assert not graph.is_chain()


def test_the_default_output_is_the_last_layer(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, inputs: input}\n"
            "  - {name: m, type: add, inputs: [b, a]}\n",
        )
    )
    assert [n.name for n in graph.outputs] == ["m"]
    (out,) = graph.output_nodes
    assert (out.name, out.inputs, out.output) == ("output_0", ["m"], (8, 8, 4))
    assert graph.nodes["m"].users == ["output_0"]


def test_outputs_as_a_single_name(tmp_path: Path) -> None:
    graph = graph_of(run(tmp_path, BRANCH.replace("inputs: a", "inputs: side"), "outputs: b\n"))
    assert [n.name for n in graph.outputs] == ["b"]


# --- merge shapes: broadcasting and concatenation (SG207, SG208) -------------------------------


def test_multiply_broadcasts_a_1x1xc_gate(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: gate, type: conv2d, filters: 4, kernel_size: 8}\n"
            "  - {name: m, type: multiply, inputs: [input, gate]}\n",
        )
    )
    assert graph.nodes["gate"].output == (1, 1, 4)
    assert graph.nodes["m"].input_shapes == [(8, 8, 4), (1, 1, 4)]
    assert graph.nodes["m"].output == (8, 8, 4)


def test_add_of_different_spatial_sizes_is_sg207_showing_every_input(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 16, kernel_size: 1}\n"
        "  - {name: b2, type: conv2d, filters: 16, kernel_size: 1, stride: 2, inputs: input}\n"
        "  - {name: sum, type: add, inputs: [a, b2]}\n",
    )
    assert found(result) == [("SG207", (7, 5), "$.layers[2]")]
    (d,) = result.report.diagnostics
    assert d.message == (
        "layer 'sum' (add): add cannot broadcast axis 0 (H): sizes [4, 8] "
        "(each axis must be equal or 1): 'a' [8, 8, 16], 'b2' [4, 4, 16]"
    )
    assert d.hint is not None and "1x1 conv2d" in d.hint


def test_a_broadcast_error_shows_all_three_inputs(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 3, stride: 2, inputs: input}\n"
        "  - {name: c, type: conv2d, filters: 4, kernel_size: 1, inputs: input}\n"
        "  - {name: m, type: average, inputs: [a, b, c]}\n",
    )
    (d,) = result.report.diagnostics
    assert d.code == "SG207"
    assert d.message.endswith(": 'a' [8, 8, 4], 'b' [3, 3, 4], 'c' [8, 8, 4]")


def test_a_merge_of_mixed_ranks_is_sg207(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: flat, type: flatten}\n  - {name: m, type: add, inputs: [input, flat]}\n",
    )
    assert found(result) == [("SG207", (6, 5), "$.layers[1]")]
    assert result.report.diagnostics[0].message == (
        "layer 'm' (add): add needs inputs of equal rank, got ranks [1, 3]: "
        "'input' [8, 8, 4], 'flat' [256]"
    )


def test_concatenate_along_the_default_axis_sums_channels(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 6, kernel_size: 1}\n"
            "  - {name: cat, type: concatenate, inputs: [input, a]}\n",
        )
    )
    assert graph.nodes["cat"].input_shapes == [(8, 8, 4), (8, 8, 6)]
    assert graph.nodes["cat"].output == (8, 8, 10)


@pytest.mark.parametrize("axis", ["2", "-1"])
def test_concatenate_axis_2_is_axis_minus_1(tmp_path: Path, axis: str) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 6, kernel_size: 1}\n"
            f"  - {{name: cat, type: concatenate, axis: {axis}, inputs: [a, input]}}\n",
        )
    )
    assert graph.nodes["cat"].output == (8, 8, 10)


def test_concatenate_along_axis_0_sums_h(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: [3, 1]}\n"
            "  - {name: cat, type: concatenate, axis: 0, inputs: [input, a]}\n",
        )
    )
    assert graph.nodes["cat"].input_shapes == [(8, 8, 4), (6, 8, 4)]
    assert graph.nodes["cat"].output == (14, 8, 4)


def test_concatenate_with_another_axis_differing_is_sg207(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 3}\n"
        "  - {name: cat, type: concatenate, axis: 0, inputs: [input, a]}\n",
    )
    # `axis` is written: the finding points at it.
    assert found(result) == [("SG207", (6, 42), "$.layers[1].axis")]
    assert result.report.diagnostics[0].message == (
        "layer 'cat' (concatenate): concatenate along axis 0 (H) needs every other axis "
        "equal, but axis 1 (W) differs: 'input' [8, 8, 4], 'a' [6, 6, 4]"
    )


def test_concatenate_with_the_default_axis_and_other_axes_differing(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 3}\n"
        "  - {name: cat, type: concatenate, inputs: [input, a]}\n",
    )
    # No `axis` key: the finding is on the layer.
    assert found(result) == [("SG207", (6, 5), "$.layers[1]")]
    assert "along axis 2 (C)" in result.report.diagnostics[0].message
    assert "axis 0 (H) differs" in result.report.diagnostics[0].message


def test_a_concatenate_axis_out_of_range_is_sg208(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: flat, type: flatten}\n"
        "  - {name: g, type: global_avg_pool2d, inputs: input}\n"
        "  - {name: cat, type: concatenate, axis: 1, inputs: [flat, g]}\n",
    )
    assert found(result) == [("SG208", (7, 42), "$.layers[2].axis")]
    assert result.report.diagnostics[0].message == (
        "layer 'cat' (concatenate): axis 1 is out of range for rank-1 inputs (valid: -1 to 0)"
    )


def test_concatenate_of_rank_1_inputs(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: flat, type: flatten}\n"
            "  - {name: g, type: global_avg_pool2d, inputs: input}\n"
            "  - {name: cat, type: concatenate, axis: 0, inputs: [flat, g]}\n",
        )
    )
    assert graph.nodes["cat"].output == (260,)
    assert graph.nodes["cat"].receptive_field is None


def test_a_merge_expect_mismatch_is_sg202(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
        "  - {name: b, type: conv2d, filters: 6, kernel_size: 1, inputs: input}\n"
        "  - {name: m, type: concatenate, inputs: [a, b], expect: [8, 8, 8]}\n",
    )
    assert found(result) == [("SG202", (7, 58), "$.layers[2].expect")]
    assert result.report.diagnostics[0].message == (
        "layer 'm' (concatenate): output shape [8, 8, 10] does not match expect [8, 8, 8]"
    )


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ([(8, 8, 16), (1, 1, 16)], ((8, 8, 16), -1)),
        ([(1, 1, 16), (8, 8, 1)], ((8, 8, 16), -1)),
        ([(8, 8, 16), (8, 8, 16), (8, 8, 16)], ((8, 8, 16), -1)),
        ([(1,), (10,)], ((10,), -1)),
        ([(8, 8, 16), (4, 4, 16)], (None, 0)),
        ([(8, 8, 16), (8, 4, 16)], (None, 1)),
        ([(8, 8, 16), (8, 8, 1), (8, 8, 4)], (None, 2)),
    ],
)
def test_broadcast_shapes(
    shapes: list[tuple[int, ...]], expected: tuple[tuple[int, ...] | None, int]
) -> None:
    assert broadcast_shapes(shapes) == expected


@pytest.mark.parametrize(
    ("shapes", "axis", "expected"),
    [
        ([(8, 8, 16), (8, 8, 32)], 2, ((8, 8, 48), -1)),
        ([(8, 8, 16), (6, 8, 16), (2, 8, 16)], 0, ((16, 8, 16), -1)),
        ([(8, 3, 16), (8, 5, 16)], 1, ((8, 8, 16), -1)),
        ([(8, 8, 16), (4, 8, 16)], 2, (None, 0)),
        ([(8, 8, 16), (8, 4, 8)], 0, (None, 1)),
        ([(3,), (5,)], 0, ((8,), -1)),
    ],
)
def test_concatenate_output_shape(
    shapes: list[tuple[int, ...]], axis: int, expected: tuple[tuple[int, ...] | None, int]
) -> None:
    assert concatenate_output_shape(shapes, axis) == expected


# --- receptive field through merges ------------------------------------------------------------


def test_the_union_of_fields_with_equal_jumps() -> None:
    # Windows as intervals of pixel centres: [-1, 1] and [0, 4] in H, [-1, 1] and [-4, 0] in W.
    a = rf(3, 2, 0)
    b = rf(5, 2, (2, -2))
    assert ReceptiveField.union([a, b]) == rf(6, 2, (1.5, -1.5))
    assert ReceptiveField.union([b, a]) == rf(6, 2, (1.5, -1.5))
    # One window inside the other: the larger one.
    assert ReceptiveField.union([rf(3, 1, 1), rf(7, 1, 1)]) == rf(7, 1, 1)
    # A single field is itself.
    assert ReceptiveField.union([b]) == b


def test_the_union_is_undefined_when_jumps_differ() -> None:
    assert ReceptiveField.union([rf(3, 1, 1), rf(3, 2, 1)]) is None
    # Differing on one axis only is enough.
    other = ReceptiveField.of((3, 3), (1, 2), (1.0, 1.0))
    assert ReceptiveField.union([rf(3, 1, 1), other]) is None


def test_the_field_of_a_merge_of_two_branches_is_their_union(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, stride: 2, padding: 1}\n"
            "  - {name: b1, type: conv2d, filters: 4, kernel_size: 1, stride: 2, inputs: input}\n"
            "  - {name: b2, type: conv2d, filters: 4, kernel_size: 3, padding: [[0, 2], [2, 0]]}\n"
            "  - {name: sum, type: add, inputs: [a, b2]}\n",
            head=HEAD.replace("[8, 8, 4]", "[16, 16, 4]"),
        )
    )
    # a: 3x3, stride 2, pad 1: size 3, jump 2, start (3 - 1) / 2 - 1 = 0 -> window [-1, 1].
    assert graph.nodes["a"].receptive_field == rf(3, 2, 0)
    # b1: 1x1, stride 2: size 1, jump 2, start 0.
    assert graph.nodes["b1"].receptive_field == rf(1, 2, 0)
    # b2: 3x3 on jump 2: size 1 + 2 * 2 = 5; start 0 + (1 - top) * 2 = 2 in H (window
    # [0, 4]) and 0 + (1 - left) * 2 = -2 in W (window [-4, 0]).
    assert graph.nodes["b2"].receptive_field == rf(5, 2, (2, -2))
    # Union: H [-1, 4] -> 6 pixels centred at 1.5; W [-4, 1] -> 6 pixels centred at -1.5.
    assert graph.nodes["sum"].output == (8, 8, 4)
    assert graph.nodes["sum"].receptive_field == rf(6, 2, (1.5, -1.5))


def test_a_straight_chain_keeps_the_first_wave_numbers(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 3}\n"
            "  - {type: flatten}\n"
            "  - {type: dense, units: 3}\n",
        )
    )
    assert graph.nodes["input"].receptive_field == INPUT_FIELD
    assert graph.nodes["a"].receptive_field == rf(3, 1, 1)
    assert graph.nodes["b"].receptive_field == rf(5, 1, 2)
    # Rank-1 outputs have no receptive field.
    assert graph.nodes["flatten_1"].receptive_field is None
    assert graph.nodes["dense_1"].receptive_field is None


def test_a_merge_with_a_field_less_input_has_no_field() -> None:
    """[1, 1, C] from global pooling (rank 1, so no field) feeding a merge: no field.

    Built by hand: no first- or second-wave layer yet turns [C] back into [1, 1, C]."""
    graph = Graph("net", (8, 8, 4))

    def add(name: str, inputs: list[str], output: tuple[int, ...]) -> None:
        kind = NodeKind.INPUT if name == "input" else NodeKind.LAYER
        shapes = [graph.nodes[r].output for r in inputs]
        graph.nodes[name] = Node(name, kind, None, (), None, inputs, shapes, output)

    add("input", [], (8, 8, 4))
    add("gap", ["input"], (4,))
    add("gate", ["gap"], (1, 1, 4))
    add("scaled", ["input", "gate"], (8, 8, 4))
    add("twice", ["input", "input"], (8, 8, 4))
    receptive_field_pass(graph)
    assert graph.nodes["gap"].receptive_field is None
    assert graph.nodes["gate"].receptive_field is None
    assert graph.nodes["scaled"].receptive_field is None
    assert graph.nodes["twice"].receptive_field == INPUT_FIELD


def test_a_merge_with_a_broadcast_1x1xc_gate_has_no_field(tmp_path: Path) -> None:
    """The gate's one pixel is broadcast to every output pixel: output pixel (i, j) sees
    input pixel (i, j) and the whole 8x8 gate window, so the windows no longer step by the
    jump (the union claims pixel 1 sees [1, 8]; it sees [0, 7]). Not well defined: None."""
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: gate, type: conv2d, filters: 4, kernel_size: 8}\n"
            "  - {name: m, type: multiply, inputs: [input, gate]}\n",
        )
    )
    assert graph.nodes["gate"].receptive_field == rf(8, 1, 3.5)
    assert graph.nodes["m"].receptive_field is None


def test_concatenate_along_a_spatial_axis_has_no_field(tmp_path: Path) -> None:
    """Rows 0-7 of the output come from 'input' and rows 8-13 from 'a': no output pixel
    sees both windows, so their union is no output pixel's field. Not well defined: None."""
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: [3, 1]}\n"
            "  - {name: cat, type: concatenate, axis: 0, inputs: [input, a]}\n",
        )
    )
    assert graph.nodes["a"].receptive_field == ReceptiveField.of((3, 1), (1, 1), (1.0, 0.0))
    assert graph.nodes["cat"].receptive_field is None


def test_concatenate_along_channels_has_the_union_field(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 5, padding: [[4, 0], [0, 4]],"
            " inputs: input}\n"
            "  - {name: cat, type: concatenate, inputs: [a, input, b]}\n",
        )
    )
    # a: [-1, 1] on both axes. b: start (2 - 4) = -2 in H ([-4, 0]), (2 - 0) = 2 in W ([0, 4]).
    assert graph.nodes["b"].receptive_field == rf(5, 1, (-2, 2))
    # Union with a and the 1-pixel input window [0, 0]: H [-4, 1], W [-1, 4].
    assert graph.nodes["cat"].receptive_field == rf(6, 1, (-1.5, 1.5))


# --- error recovery across passes --------------------------------------------------------------


def test_a_layer_with_an_unknown_key_still_takes_part_in_the_shape_pass(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filtres: 4, kernel_size: 3}\n"
        "  - {name: p, type: max_pool2d, pool_size: 2}\n"
        "  - {name: big, type: conv2d, filters: 4, kernel_size: 5}\n",
    )
    assert found(result) == [
        ("SG102", (5, 29), "$.layers[0].filtres"),
        ("SG201", (7, 56), "$.layers[2].kernel_size"),
    ]
    typo, kernel = result.report.diagnostics
    assert typo.hint == "did you mean 'filters'?"
    # 8 -> conv 3x3 -> 6 -> pool 2 -> 3: the typo'd layer's shape was computed.
    assert kernel.message == (
        "layer 'big' (conv2d): kernel 5x5 does not fit input 3x3 with padding 0x0: "
        "floor((3 + 0 - 5) / 1) + 1 = -1"
    )
    assert result.graph is None


def test_conv2d_takes_stride_with_dilation_and_still_reports_groups(tmp_path: Path) -> None:
    """Stride > 1 with dilation > 1 is PyTorch-legal: no shape-pass finding (the Keras
    target reports SG401); the groups mistake on the same layer is still reported."""
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 6, groups: 4, kernel_size: 3, stride: 2,"
        " dilation: 2}\n",
    )
    assert found(result) == [("SG204", (5, 49), "$.layers[0].groups")]
    (groups,) = result.report.diagnostics
    assert groups.message == (
        "layer 'a' (conv2d): groups=4 must divide both the input channels (4) and filters (6)"
    )
    fine = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, stride: 2, dilation: 2}\n",
    )
    assert found(fine) == []
    assert fine.graph is not None
    assert fine.graph.nodes["a"].output[:2] == (2, 2)


def test_a_failed_layer_stands_in_with_its_expect(tmp_path: Path) -> None:
    layers = (
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 9EXPECT}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, stride: 2, inputs: input}\n"
        "  - {name: m, type: add, inputs: [a, b]}\n"
    )
    with_expect = run(tmp_path, layers.replace("EXPECT", ", expect: [8, 8, 4]"))
    assert [c for c, _, _ in found(with_expect)] == ["SG201", "SG207"]
    assert with_expect.report.diagnostics[1].message.endswith(": 'a' [8, 8, 4], 'b' [4, 4, 4]")
    # Without `expect` the merge's inputs are unknown: nothing is guessed.
    without = run(tmp_path, layers.replace("EXPECT", ""))
    assert [c for c, _, _ in found(without)] == ["SG201"]


def test_a_shape_error_does_not_hide_an_unused_branch(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "  - {name: a, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: side, type: conv2d, filters: 4, kernel_size: 1}\n"
        "  - {name: b, type: conv2d, filters: 4, kernel_size: 1, stride: 2, inputs: a}\n"
        "  - {name: m, type: add, inputs: [a, b]}\n",
    )
    assert found(result) == [
        ("SG110", (6, 5), "$.layers[1]"),
        ("SG207", (8, 5), "$.layers[3]"),
    ]


# --- is_chain ----------------------------------------------------------------------------------


def test_a_straight_spec_is_a_chain(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {type: conv2d, filters: 4, kernel_size: 3}\n"
            "  - {type: conv2d, filters: 4, kernel_size: 3, inputs: conv2d_1}\n"
            "  - {type: flatten}\n"
            "  - {type: dense, units: 3}\n",
        )
    )
    assert graph.is_chain()
    assert [n.inputs for n in graph.layers()] == [
        ["input"],
        ["conv2d_1"],
        ["conv2d_2"],
        ["flatten_1"],
    ]


def test_a_straight_spec_with_its_last_layer_as_outputs_is_a_chain(tmp_path: Path) -> None:
    graph = graph_of(
        run(tmp_path, "  - {name: a, type: conv2d, filters: 4, kernel_size: 3}\n", "outputs: [a]\n")
    )
    assert graph.is_chain()


def test_a_residual_spec_is_not_a_chain(tmp_path: Path) -> None:
    graph = graph_of(
        run(
            tmp_path,
            "  - {name: a, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
            "  - {name: b, type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
            "  - {name: res, type: add, inputs: [a, b]}\n",
        )
    )
    assert not graph.is_chain()
    assert graph.nodes["a"].users == ["b", "res"]
    assert graph.nodes["res"].receptive_field == rf(5, 1, 0)
