"""Section 1 and 2 of the report: architecture and Dropout placement, read off the real graph."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from captcha_cli.checks.base import Check, check, guarded
from captcha_cli.spec import ModelSpec

REPORT_PARAMS = 32_054_714
REPORT_SIZE_MB = 122.28
REPORT_INPUT = (1, 60, 200, 3)
REPORT_OUTPUT = (1, 378)
REPORT_LAYER_FORMULA = "1 + (3+4+6+3)x2 + 1 + 1"
DROPOUT_CLASSES = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "AlphaDropout",
}
BLOCK_ORDER = ["Conv2D", "BatchNormalization", "ReLU", "Conv2D", "BatchNormalization", "Add", "ReLU"]
BLOCK_NAME = re.compile(r"^(conv(\d+)_block(\d+))_")


@dataclass(frozen=True)
class Node:
    """A layer of the functional graph, from the model's own config."""

    name: str
    kind: str
    config: dict[str, Any]
    inputs: tuple[str, ...]


def _histories(value: Any) -> list[str]:
    """Names of the layers whose outputs feed a node (searches the serialized call args)."""
    found: list[str] = []
    if isinstance(value, dict):
        if "keras_history" in value.get("config", {}):
            found.append(value["config"]["keras_history"][0])
        else:
            for item in value.values():
                found.extend(_histories(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(_histories(item))
    return found


def _kind(class_name: str, config: dict[str, Any]) -> str:
    if class_name == "Activation" and config.get("activation") == "relu":
        return "ReLU"
    if class_name == "FusedBatchNormalization":  # the same layer, trained through the fused kernel
        return "BatchNormalization"
    if class_name == "SmallMapConv2D":  # the same layer, its kernel gradient one matmul on small maps
        return "Conv2D"
    return class_name


def model_graph(model: keras.Model) -> dict[str, Node]:
    """The model as a graph of named nodes, in layer order."""
    graph: dict[str, Node] = {}
    for layer in model.get_config()["layers"]:
        config = layer["config"]
        graph[config["name"]] = Node(
            name=config["name"],
            kind=_kind(layer["class_name"], config),
            config=config,
            inputs=tuple(_histories(layer.get("inbound_nodes", []))),
        )
    return graph


@dataclass(frozen=True)
class Block:
    name: str
    stage: int
    index: int
    main_path: list[str]
    shortcut: list[str]
    out_kind: str
    first_conv: Node | None
    shortcut_conv: Node | None


def _walk_back(graph: dict[str, Node], start: str, prefix: str) -> list[str]:
    """Layer names from `start` backwards while they belong to the block `prefix`."""
    path = []
    name = start
    while name.startswith(prefix + "_"):
        path.append(name)
        inputs = graph[name].inputs
        if len(inputs) != 1:
            break
        name = inputs[0]
    return list(reversed(path))


def find_blocks(graph: dict[str, Node]) -> list[Block]:
    """Every residual block, found by name, with its main path and shortcut read off the graph."""
    blocks: list[Block] = []
    seen: list[str] = []
    for name in graph:
        match = BLOCK_NAME.match(name)
        if match and match.group(1) not in seen:
            seen.append(match.group(1))
    for prefix in seen:
        stage, index = (int(v) for v in BLOCK_NAME.match(prefix + "_").groups()[1:])
        out = graph.get(f"{prefix}_out")
        add_name = out.inputs[0] if out and out.inputs else None
        add = graph.get(add_name) if add_name else None
        branches = [_walk_back(graph, i, prefix) for i in (add.inputs if add else ())]
        branches.sort(key=len)
        shortcut, main = (branches[0], branches[-1]) if len(branches) == 2 else ([], [])
        main_kinds = [graph[n].kind for n in main] + ([add.kind] if add else []) + ([out.kind] if out else [])
        blocks.append(
            Block(
                name=prefix,
                stage=stage,
                index=index,
                main_path=main_kinds,
                shortcut=[graph[n].kind for n in shortcut],
                out_kind=out.kind if out else "",
                first_conv=graph[main[0]] if main else None,
                shortcut_conv=graph[shortcut[0]] if shortcut else None,
            )
        )
    return blocks


def _stage_table(blocks: list[Block]) -> dict[int, list[Block]]:
    stages: dict[int, list[Block]] = {}
    for block in blocks:
        stages.setdefault(block.stage, []).append(block)
    return dict(sorted(stages.items()))


def _is_report_spec(spec: ModelSpec) -> bool:
    """The model the report describes: the resnet34 defaults, whatever the preprocessing or loss."""
    if spec.loss == "ctc":
        return False
    return spec == ModelSpec(preprocessing=spec.preprocessing, loss=spec.loss)


def _tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value, value)


def architecture_checks(model: keras.Model, spec: ModelSpec) -> list[Check]:
    """Every architecture and Dropout claim, checked on a built or loaded model."""
    graph = model_graph(model)
    blocks = find_blocks(graph)
    stages = _stage_table(blocks)
    report = _is_report_spec(spec)
    source = "report" if report else f"spec {spec.arch}"
    layer_order = list(graph)

    def block_order() -> Check:
        bad = [f"{b.name}: {'-'.join(b.main_path)}" for b in blocks if b.main_path != BLOCK_ORDER]
        found = f"{len(blocks) - len(bad)}/{len(blocks)} blocks match" + (f"; {bad[0]}" if bad else "")
        return check("residual block order", "Conv-BN-ReLU-Conv-BN-Add-ReLU", found, blocks and not bad)

    def shortcuts() -> Check:
        conv_ok = [
            b
            for b in blocks
            if b.shortcut == ["Conv2D", "BatchNormalization"]
            and b.shortcut_conv
            and _tuple(b.shortcut_conv.config["kernel_size"]) == (1, 1)
        ]
        identity = [b for b in blocks if not b.shortcut]
        expected_conv = {b.name for b in blocks if b.index == 1}
        wrong = [
            b.name
            for b in blocks
            if (b.name in expected_conv) != (b in conv_ok) or (b.name not in expected_conv and b not in identity)
        ]
        found = f"{len(conv_ok)} conv shortcuts (1x1 Conv + BN), {len(identity)} identity"
        if wrong:
            found += f"; wrong in {', '.join(wrong[:3])}"
        return check(
            "shortcut kinds",
            "identity, or 1x1 Conv + BN in the first block of a stage",
            found,
            blocks and not wrong,
        )

    def stem() -> Check:
        conv, bn, relu, pool = (graph.get(n) for n in ("conv1_conv", "conv1_bn", "conv1_relu", "pool1_pool"))
        if not all((conv, bn, relu, pool)):
            return check("stem", "Conv 7x7/64 s2 + BN + ReLU + MaxPool 3x3 s2", "stem layers missing", False)
        chained = bn.inputs == ("conv1_conv",) and relu.inputs == ("conv1_bn",) and pool.inputs == ("conv1_relu",)
        k, f, s = _tuple(conv.config["kernel_size"]), conv.config["filters"], _tuple(conv.config["strides"])
        ps, pst = _tuple(pool.config["pool_size"]), _tuple(pool.config["strides"])
        found = (
            f"Conv {k[0]}x{k[1]}/{f} s{s[0]} -> {bn.kind} -> {relu.kind} -> "
            f"{pool.kind} {ps[0]}x{ps[1]} s{pst[0]}" + ("" if chained else " (not chained)")
        )
        want = (spec.stem_kernel, spec.stem_kernel), spec.stem_filters, (spec.stem_stride,) * 2
        ok = (
            chained
            and (k, f, s) == want
            and bn.kind == "BatchNormalization"
            and relu.kind == "ReLU"
            and pool.kind == "MaxPooling2D"
            and ps == (spec.pool_size,) * 2
            and pst == (spec.pool_stride,) * 2
        )
        claim = (
            f"Conv {spec.stem_kernel}x{spec.stem_kernel}/{spec.stem_filters} s{spec.stem_stride} + "
            f"BN + ReLU + MaxPool {spec.pool_size}x{spec.pool_size} s{spec.pool_stride}"
        )
        return check("stem", claim, found, ok)

    def stage_blocks() -> Check:
        found = tuple(len(v) for v in stages.values())
        return check("blocks per stage", f"{spec.stage_blocks} ({source})", found, found == spec.stage_blocks)

    def stage_filters() -> Check:
        per_stage = []
        for members in stages.values():
            widths = {b.first_conv.config["filters"] for b in members if b.first_conv}
            per_stage.append(widths.pop() if len(widths) == 1 else tuple(sorted(widths)))
        found = tuple(per_stage)
        return check("filters per stage", f"{spec.stage_filters} ({source})", found, found == spec.stage_filters)

    def stage_strides() -> Check:
        found = tuple(
            _tuple(m[0].first_conv.config["strides"])[0] if m[0].first_conv else None for m in stages.values()
        )
        later = [
            b.name for b in blocks if b.index > 1 and b.first_conv and _tuple(b.first_conv.config["strides"]) != (1, 1)
        ]
        text = str(found) + (f"; stride in {', '.join(later)}" if later else "")
        return check(
            "stride per stage",
            f"{spec.stage_strides}, carried by the first block",
            text,
            found == spec.stage_strides and not later,
        )

    def reshape() -> Check:
        last_stage = max(stages) if stages else None
        feature = model.get_layer(f"conv{last_stage}_block{len(stages[last_stage])}_out").output.shape
        seq = model.get_layer("to_sequence").output.shape
        _, h, w, c = feature
        found = f"{tuple(feature[1:])} -> {tuple(seq[1:])}"
        return check(
            "reshape to sequence",
            "(height, width, channels) -> (width, height x channels)",
            found,
            tuple(seq[1:]) == (w, h * c),
        )

    def bilstm() -> Check:
        layer = model.get_layer("bilstm")
        inner = getattr(layer, "forward_layer", None)
        kind = type(layer).__name__
        units = getattr(inner, "units", None)
        seqs = getattr(inner, "return_sequences", None)
        found = f"{kind}({type(inner).__name__}({units}), return_sequences={seqs})"
        return check(
            "BiLSTM",
            f"Bidirectional LSTM({spec.lstm_units}), returning sequences",
            found,
            kind == "Bidirectional" and type(inner).__name__ == "LSTM" and units == spec.lstm_units and seqs is True,
        )

    def head_input() -> Check:
        first = "fc" if spec.loss == "ctc" else "flatten"
        feeding = graph[graph[first].inputs[0]] if first in graph and graph[first].inputs else None
        found = f"{feeding.name} ({feeding.kind} of {', '.join(feeding.inputs)})" if feeding else "nothing"
        if spec.sequence_shortcut:
            claim = "Concatenate(bilstm, to_sequence)"
            ok = feeding is not None and feeding.kind == "Concatenate" and feeding.inputs == ("bilstm", "to_sequence")
        else:
            claim = "the BiLSTM alone"
            ok = feeding is not None and feeding.name == "bilstm"
        return check("sequence into the head", claim, found, ok)

    def fc_head() -> Check:
        chain = []
        name = "output"
        while name in graph and len(chain) < 4:
            node = graph[name]
            chain.append(node)
            name = node.inputs[0] if node.inputs else ""
        chain.reverse()
        found = " -> ".join(
            f"{n.kind}"
            + (
                f"({n.config.get('units')}, {n.config.get('activation')})"
                if n.kind == "Dense"
                else f"({n.config.get('rate')}, name={n.name})"
                if n.kind in DROPOUT_CLASSES
                else ""
            )
            for n in chain
        )
        kinds = [n.kind for n in chain]
        fc, dropout = (chain[0], chain[1]) if spec.loss == "ctc" else (chain[1], chain[2])
        expected = (
            ["Dense", "Dropout", "Dense", "Reshape"] if spec.loss == "ctc" else ["Flatten", "Dense", "Dropout", "Dense"]
        )
        ok = (
            kinds == expected
            and fc.config["units"] == spec.fc_units
            and fc.config["activation"] == "relu"
            and dropout.name == "dropout_fc"
            and dropout.config["rate"] == spec.dropout
        )
        claim = f"Dense({spec.fc_units}, relu) -> Dropout({spec.dropout}) named dropout_fc"
        claim = (
            f"per time step: {claim} -> Dense({spec.num_classes}) -> output"
            if spec.loss == "ctc"
            else f"Flatten -> {claim} -> output"
        )
        return check("fully connected head", claim, found, ok)

    def no_conv_dropout() -> Check:
        boundary = layer_order.index("to_sequence") if "to_sequence" in layer_order else len(layer_order)
        conv_dropouts = [n for i, n in enumerate(layer_order) if graph[n].kind in DROPOUT_CLASSES and i < boundary]
        found = "none" if not conv_dropouts else ", ".join(conv_dropouts[:4])
        return check("no Dropout in the convolutional part", "none (BatchNorm regularizes)", found, not conv_dropouts)

    def one_dropout() -> Check:
        dropouts = [graph[n] for n in layer_order if graph[n].kind in DROPOUT_CLASSES]
        found = ", ".join(f"{d.name}({d.config.get('rate')})" for d in dropouts) or "none"
        ok = len(dropouts) == 1 and dropouts[0].name == "dropout_fc" and dropouts[0].config["rate"] == spec.dropout
        return check("exactly one Dropout", f"one: dropout_fc({spec.dropout})", found, ok)

    def output_size() -> Check:
        units = model.output_shape[-1]
        slots = "time steps" if spec.loss == "ctc" else "positions"
        claim = f"{spec.output_steps} {slots} x {spec.num_classes} classes = {spec.output_size}"
        return check("output layer", claim, f"{graph['output'].kind}({units})", units == spec.output_size)

    def params() -> Check:
        total = model.count_params()
        if report:
            return check("parameter count", f"{REPORT_PARAMS:,} (report)", f"{total:,}", total == REPORT_PARAMS)
        from captcha_cli.model.network import build_model

        expected = build_model(spec).count_params()
        return check("parameter count", f"{expected:,} (built from its spec)", f"{total:,}", total == expected)

    def size() -> Check:
        size_mb = round(model.count_params() * 4 / 2**20, 2)
        if report:
            return check("size as float32", f"{REPORT_SIZE_MB} MB (report)", f"{size_mb} MB", size_mb == REPORT_SIZE_MB)
        return check("size as float32", "parameters x 4 bytes", f"{size_mb} MB", size_mb > 0)

    def forward() -> Check:
        batch = np.zeros((1, *spec.input_shape), dtype="float32")
        out = tuple(np.asarray(model(batch, training=False)).shape)
        want_in = REPORT_INPUT if report else batch.shape
        want_out = REPORT_OUTPUT if report else (1, spec.output_size)
        found = f"{batch.shape} -> {out}"
        return check(
            "forward pass shapes",
            f"{want_in} -> {want_out}",
            found,
            batch.shape == want_in and out == want_out,
        )

    stem_convs = 1 if "conv1_conv" in graph else 0
    block_convs = sum(sum(1 for k in b.main_path if k == "Conv2D") for b in blocks)

    def depth_standard() -> Check:
        depth = stem_convs + block_convs + 1
        want = 1 + 2 * sum(spec.stage_blocks) + 1
        return check(
            "depth, standard ResNet counting",
            f"1 stem conv + {2 * sum(spec.stage_blocks)} block convs + 1 FC = {want}",
            f"{stem_convs} + {block_convs} + 1 = {depth} (1x1 shortcuts, LSTM not counted)",
            depth == want,
        )

    def depth_report() -> Check:
        denses = sum(1 for n in graph.values() if n.kind == "Dense")
        count = stem_convs + block_convs + denses
        formula_value = 1 + (3 + 4 + 6 + 3) * 2 + 1 + 1
        return check(
            "depth, the report's formula",
            f"'{REPORT_LAYER_FORMULA} = 34' (the formula evaluates to {formula_value})",
            f"stem conv + block convs + Dense layers = {stem_convs} + {block_convs} + {denses} = {count}",
            count == formula_value if report else count > 0,
        )

    def name() -> Check:
        expected = spec.model_name
        return check("model name", expected, model.name, model.name == expected)

    probes = [
        ("residual block order", "Conv-BN-ReLU-Conv-BN-Add-ReLU", block_order),
        ("shortcut kinds", "identity or 1x1 Conv + BN", shortcuts),
        ("stem", "Conv 7x7/64 s2 + BN + ReLU + MaxPool", stem),
        ("blocks per stage", str(spec.stage_blocks), stage_blocks),
        ("filters per stage", str(spec.stage_filters), stage_filters),
        ("stride per stage", str(spec.stage_strides), stage_strides),
        ("reshape to sequence", "(width, height x channels)", reshape),
        ("BiLSTM", f"LSTM({spec.lstm_units})", bilstm),
        ("sequence into the head", "bilstm", head_input),
        ("fully connected head", "Flatten-Dense-Dropout-output", fc_head),
        ("no Dropout in the convolutional part", "none", no_conv_dropout),
        ("exactly one Dropout", "dropout_fc", one_dropout),
        ("output layer", str(spec.output_size), output_size),
        ("parameter count", str(REPORT_PARAMS), params),
        ("size as float32", str(REPORT_SIZE_MB), size),
        ("forward pass shapes", str(REPORT_OUTPUT), forward),
        ("depth, standard ResNet counting", "34", depth_standard),
        ("depth, the report's formula", "35", depth_report),
        ("model name", spec.model_name, name),
    ]
    return [guarded(n, c, p) for n, c, p in probes]


def unnamed_block_check() -> Check:
    """`residual_block` and `residual_stack` build without a name (the report's fixed bug)."""
    from captcha_cli.model.network import residual_block, residual_stack

    def probe() -> Check:
        inputs = keras.Input(shape=(16, 16, 8))
        x = residual_block(inputs, 8)
        x = residual_block(x, 8)
        x = residual_stack(x, 16, 2, stride=2)
        built = keras.Model(inputs, x)
        return check(
            "blocks build without a name",
            "residual_block(x, 64) and residual_stack(x, 128, 3) work with default names",
            f"built {len(built.layers)} layers, output {tuple(built.output.shape)}",
            tuple(built.output.shape) == (None, 8, 8, 16),
        )

    return guarded("blocks build without a name", "default names work", probe)


def checks_for(model_path: Path | None) -> list[Check]:
    """Architecture checks on the default model (plus the unnamed-block check), or on a saved one."""
    if model_path is None:
        from captcha_cli.model.network import build_model

        spec = ModelSpec()
        return [*architecture_checks(build_model(spec), spec), unnamed_block_check()]
    from captcha_cli.model.modelio import load_model

    model, spec, _ = load_model(model_path)
    return architecture_checks(model, spec)
