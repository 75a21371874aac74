"""A form of typed parameters (spin boxes with units, check boxes, choices) built from a spec.

The spec comes from the mode registry (`napari_il6assay.segment.ModeSpec.parameters`: the
mode's keyword parameters and defaults, with the choices and tooltips of their numpydoc);
magicgui makes the widgets (`magicgui.widgets.create_widget`), a form layout lines them up, and
this module turns their values back into keyword arguments. A parameter whose default is None
("the engine decides") shows "auto" at the bottom of its spin box or as the first choice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from magicgui.widgets import (
    ComboBox,
    FloatSpinBox,
    LineEdit,
    create_widget,
)
from magicgui.widgets.bases import ValueWidget
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QWidget

# Name endings -> unit shown in the spin box (physical units are part of the parameter name).
_UNITS = (
    ("_um3", "µm³"),
    ("_um2", "µm²"),
    ("_um", "µm"),
    ("_px", "px"),
    ("_pct", "%"),
    ("_deg", "°"),
    ("_sigma", "px"),
)


@dataclass
class ParamSpec:
    """One parameter of a segmentation mode.

    Parameters
    ----------
    name : str
        Keyword argument name.
    default : Any
        Default value; ``None`` means "automatic" (the engine decides).
    kind : type
        ``float``, ``int``, ``bool`` or ``str``.
    unit : str
        Unit shown next to the value.
    doc : str
        Tooltip text.
    choices : sequence, optional
        Allowed values (shown as a drop-down).
    minimum, maximum : float
        Range of numeric values.
    extra : dict
        More magicgui options of the widget.
    """

    name: str
    default: Any
    kind: type = float
    unit: str = ""
    doc: str = ""
    choices: Sequence[Any] | None = None
    minimum: float = 0.0
    maximum: float = 1e9
    extra: dict[str, Any] = field(default_factory=dict)


def unit_of(name: str) -> str:
    """Return the unit implied by a parameter name (``min_diameter_um`` -> ``µm``)."""
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def _numpydoc_params(func: Callable[..., Any]) -> dict[str, tuple[str, str]]:
    """``name -> (type text, description)`` from a numpydoc "Parameters" section."""
    lines = (inspect.getdoc(func) or "").splitlines()
    out: dict[str, tuple[str, str]] = {}
    try:
        i = next(k for k, ln in enumerate(lines) if ln.strip() == "Parameters") + 2
    except StopIteration:
        return out
    names: list[str] = []
    type_text, desc = "", list[str]()
    while i < len(lines):
        ln = lines[i]
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if ln.strip() and nxt and set(nxt) == {"-"}:
            break  # the next section ("Returns") starts
        if ln and not ln.startswith(" "):
            for n in names:
                out[n] = (type_text, " ".join(desc))
            head, _, type_text = ln.partition(":")
            names = [n.strip().lstrip("*") for n in head.split(",")]
            type_text, desc = type_text.strip(), []
        elif ln.strip():
            desc.append(ln.strip())
        i += 1
    for n in names:
        out[n] = (type_text, " ".join(desc))
    return out


def _kind_of(p: inspect.Parameter) -> type | None:
    """Return the form type of a parameter from its default (None: not for a form)."""
    d = p.default
    if isinstance(d, bool):
        return bool
    if isinstance(d, int):
        return int
    if d is None:
        # "automatic" numbers: an int annotation without float makes an int spin box
        ann = str(p.annotation)
        return int if "int" in ann and "float" not in ann and "Literal[" not in ann else float
    if isinstance(d, float):
        return float
    if isinstance(d, str):
        return str
    return None  # arrays, callables: not for a form


def _choices_of(p: inspect.Parameter, kind: type, type_text: str) -> list[Any] | None:
    """Return the allowed values: ``Literal[...]`` or a numpydoc ``{"a", "b"}`` type."""
    d = p.default
    ann = str(p.annotation)
    if "Literal[" in ann:
        inner = ann.split("Literal[", 1)[1].split("]", 1)[0]
        choices: list[Any] = [c.strip().strip("'\"") for c in inner.split(",")]
        return [None, *choices] if d is None else choices
    if type_text.startswith("{") and "}" in type_text:
        inner = type_text[1 : type_text.index("}")]
        choices = [_typed(c.strip().strip("'\""), kind) for c in inner.split(",")]
        if d is None:
            return [None, *(c for c in choices if c is not None)]
        return choices if d in choices else None
    return None


def specs_from_parameters(
    parameters: Sequence[inspect.Parameter], funcs: Sequence[Callable[..., Any]] = ()
) -> list[ParamSpec]:
    """Parameter specs of keyword parameters that have defaults.

    Choices come from the annotation (``Literal[...]``) or the numpydoc type
    (``{"auto", "dark", "bright"}``); the tooltip is the numpydoc description.

    Parameters
    ----------
    parameters : sequence of inspect.Parameter
        E.g. `napari_il6assay.segment.ModeSpec.parameters` of one mode.
    funcs : sequence of callable
        The functions whose numpydoc describes them (the first description of a name wins).

    Returns
    -------
    list of ParamSpec
    """
    docs: dict[str, tuple[str, str]] = {}
    for func in funcs:
        for name, doc in _numpydoc_params(func).items():
            docs.setdefault(name, doc)
    out = []
    for p in parameters:
        if p.default is inspect.Parameter.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        kind = _kind_of(p)
        if kind is None:
            continue
        type_text, desc = docs.get(p.name, ("", ""))
        out.append(
            ParamSpec(name=p.name, default=p.default, kind=kind, unit=unit_of(p.name),
                      choices=_choices_of(p, kind, type_text), doc=desc)
        )  # fmt: skip
    return out


def _typed(text: str, kind: type) -> Any:
    """Convert a choice from a docstring to the parameter's type (``"96"`` -> 96)."""
    if text in ("None", "none"):
        return None
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    return text


#: text of the spin box's lowest value and of the choice that stand for None ("the engine
#: decides")
AUTO = "auto"


class _Auto:
    """The data of the "auto" choice (magicgui shows a None choice as an empty one)."""

    def __repr__(self) -> str:
        return AUTO


_AUTO_CHOICE = _Auto()


def make_widget(spec: ParamSpec) -> ValueWidget[Any]:
    """Make the magicgui widget of one parameter, showing its default.

    Parameters
    ----------
    spec : ParamSpec

    Returns
    -------
    magicgui ValueWidget
        A ComboBox for choices, a CheckBox, a SpinBox or FloatSpinBox (with the unit as
        suffix, and "auto" one step below ``minimum`` when the default is None), or a LineEdit.
    """
    label = spec.name.replace("_", " ")
    opts: dict[str, Any] = {"tooltip": spec.doc or spec.name, **spec.extra}
    if spec.choices is not None:
        choices = [(AUTO, _AUTO_CHOICE) if c is None else (str(c), c) for c in spec.choices]
        value = spec.default if spec.default in spec.choices else spec.choices[0]
        value = _AUTO_CHOICE if value is None else value
        return _value_widget(value, name=spec.name, label=label, widget_type="ComboBox",
                             options={"choices": choices, **opts})  # fmt: skip
    if spec.kind is bool:
        box = _value_widget(bool(spec.default), name=spec.name, label=label, options=opts)
        box.native.setText("")  # no text beside the box: the form's label names it
        return box
    if spec.kind in (int, float):
        return _number_widget(spec, label, opts)
    text = "" if spec.default is None else str(spec.default)
    return _value_widget(text, name=spec.name, label=label, options=opts)


def _number_widget(spec: ParamSpec, label: str, opts: dict[str, Any]) -> ValueWidget[Any]:
    """Make a spin box; "auto" (None) is the value one below ``minimum``.

    Whole numbers too get magicgui's FloatSpinBox (with no decimals): its int SpinBox (superqt's
    QLargeIntSpinBox) shows neither the "auto" text nor a unit suffix. `ParamForm.values`
    gives them back as int.
    """
    auto = spec.default is None
    if spec.kind is int:
        lo: float = int(spec.minimum) - (1 if auto else 0)
        value: float = lo if auto else int(spec.default)
        hi: float = int(min(spec.maximum, 2**31 - 1))
        step = 1.0
    else:
        lo = spec.minimum - (1.0 if auto else 0.0)
        value = lo if auto else float(spec.default)
        hi = spec.maximum
        # a tenth of the default per step (Qt's 1.0 for "auto" and a zero default)
        step = abs(value) / 10 if not auto and value else 1.0
    widget = _value_widget(
        float(value), name=spec.name, label=label, widget_type="FloatSpinBox",
        options={"min": lo, "max": hi, "step": step, **opts},
    )  # fmt: skip
    native = widget.native
    if auto:
        native.setSpecialValueText(AUTO)
    native.setDecimals(0 if spec.kind is int else 4)
    widget.value = value  # magicgui rounded it to its default 2 decimals
    if spec.unit:
        native.setSuffix(f" {spec.unit}")
    return widget


def _value_widget(value: Any, **kwargs: Any) -> ValueWidget[Any]:
    """`magicgui.widgets.create_widget` for a widget that holds a value."""
    widget = create_widget(value, **kwargs)
    if not isinstance(widget, ValueWidget):  # pragma: no cover - magicgui's own choice
        raise TypeError(f"magicgui made a {type(widget).__name__} for {kwargs.get('name')}")
    return widget


class ParamForm(QWidget):
    """A form of magicgui widgets for `ParamSpec`, with `values` as keyword arguments.

    Parameters
    ----------
    specs : sequence of ParamSpec
        The parameters shown.
    parent : QWidget, optional
        The Qt parent.
    """

    #: Emitted when any value changes.
    changed = Signal()

    def __init__(self, specs: Sequence[ParamSpec] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # magicgui makes the widgets; a QFormLayout lines them up (magicgui's Container sizes
        # its labels with the application font, not napari's, and the column comes out ragged)
        self._form = QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._specs: dict[str, ParamSpec] = {}
        self._widgets: dict[str, ValueWidget[Any]] = {}
        self.set_specs(specs)

    def set_specs(self, specs: Sequence[ParamSpec]) -> None:
        """Replace the parameters shown (values go back to the defaults)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._specs = {spec.name: spec for spec in specs}
        self._widgets = {spec.name: make_widget(spec) for spec in specs}
        for widget in self._widgets.values():
            widget.changed.connect(self._emit_changed)
            self._form.addRow(widget.label, widget.native)

    def _emit_changed(self, *_: Any) -> None:
        self.changed.emit()

    def widget(self, name: str) -> ValueWidget[Any]:
        """Return the magicgui widget of one parameter (``.native`` is its Qt widget)."""
        return self._widgets[name]

    def values(self) -> dict[str, Any]:
        """Return the current values as keyword arguments (``None`` where "auto" is chosen)."""
        return {name: self._value(spec, self._widgets[name]) for name, spec in self._specs.items()}

    @staticmethod
    def _value(spec: ParamSpec, widget: ValueWidget[Any]) -> Any:
        if isinstance(widget, FloatSpinBox):
            if spec.default is None and widget.value == widget.min:
                return None
            return int(round(widget.value)) if spec.kind is int else widget.value
        if isinstance(widget, LineEdit):
            return widget.value.strip() or None
        return None if widget.value is _AUTO_CHOICE else widget.value

    def set_value(self, name: str, value: Any) -> None:
        """Set one parameter's value (emits `changed`); an unknown choice picks the first."""
        widget = self._widgets[name]
        if isinstance(widget, ComboBox):
            value = _AUTO_CHOICE if value is None else value
            widget.value = value if value in widget.choices else widget.choices[0]
        elif isinstance(widget, FloatSpinBox):
            widget.value = widget.min if value is None else value
        elif isinstance(widget, LineEdit):
            widget.value = "" if value is None else str(value)
        else:
            widget.value = bool(value)
