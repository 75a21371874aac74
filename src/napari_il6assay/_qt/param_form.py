"""A form of typed parameters (spin boxes with units, check boxes, choices) built from a spec.

The spec comes from the segmentation engine (its keyword parameters and defaults); this module
only turns it into widgets and back into keyword arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

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
    """Unit implied by a parameter name (``min_diameter_um`` -> ``µm``)."""
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
    type_text, desc = "", []
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


def specs_from_signature(func: Callable[..., Any], skip: Sequence[str] = ()) -> list[ParamSpec]:
    """Parameter specs of a function's keyword parameters that have defaults.

    Choices come from the annotation (``Literal[...]``) or the numpydoc type
    (``{"auto", "dark", "bright"}``); the tooltip is the numpydoc description.

    Parameters
    ----------
    func : callable
        E.g. one mode's segmentation function.
    skip : sequence of str
        Names handled elsewhere (image, calibration).

    Returns
    -------
    list of ParamSpec
    """
    out = []
    docs = _numpydoc_params(func)
    for p in inspect.signature(func).parameters.values():
        if p.name in skip or p.default is inspect.Parameter.empty:
            continue
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        d = p.default
        if isinstance(d, bool):
            kind: type = bool
        elif isinstance(d, int):
            kind = int
        elif isinstance(d, float) or d is None:
            kind = float
        elif isinstance(d, str):
            kind = str
        else:
            continue  # arrays, callables: not for a form
        ann = str(p.annotation)
        choices = None
        if "Literal[" in ann:
            inner = ann.split("Literal[", 1)[1].split("]", 1)[0]
            choices = [c.strip().strip("'\"") for c in inner.split(",")]
            if d is None:
                choices = [None, *choices]
        elif kind is float and d is None and "int" in ann and "float" not in ann:
            kind = int
        type_text, desc = docs.get(p.name, ("", ""))
        if choices is None and type_text.startswith("{") and "}" in type_text:
            inner = type_text[1 : type_text.index("}")]
            choices = [_typed(c.strip().strip("'\""), kind) for c in inner.split(",")]
            if d is None:
                choices = [None, *(c for c in choices if c is not None)]
            elif d not in choices:
                choices = None
        out.append(
            ParamSpec(
                name=p.name, default=d, kind=kind, unit=unit_of(p.name), choices=choices, doc=desc
            )
        )
    return out


def _typed(text: str, kind: type) -> Any:
    """A choice from a docstring as the parameter's type (``"96"`` -> 96 for an int)."""
    if text in ("None", "none"):
        return None
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    return text


class ParamForm(QWidget):
    """Widgets for a list of `ParamSpec`, with `values()` as keyword arguments.

    Parameters
    ----------
    specs : list of ParamSpec
    parent : QWidget, optional
    """

    #: Emitted when any value changes.
    changed = Signal()

    def __init__(self, specs: Sequence[ParamSpec] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._form = QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._widgets: dict[str, tuple[ParamSpec, QWidget]] = {}
        self.set_specs(specs)

    def set_specs(self, specs: Sequence[ParamSpec]) -> None:
        """Replace the parameters shown (values go back to the defaults)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._widgets = {}
        for spec in specs:
            w = self._make(spec)
            w.setToolTip(spec.doc or spec.name)
            self._widgets[spec.name] = (spec, w)
            self._form.addRow(spec.name.replace("_", " "), w)

    def _make(self, spec: ParamSpec) -> QWidget:
        if spec.choices is not None:
            w = QComboBox()
            for c in spec.choices:
                w.addItem("auto" if c is None else str(c), c)
            w.setCurrentIndex(
                max(0, list(spec.choices).index(spec.default))
                if spec.default in spec.choices
                else 0
            )
            w.currentIndexChanged.connect(self.changed)
            return w
        if spec.kind is bool:
            w = QCheckBox()
            w.setChecked(bool(spec.default))
            w.toggled.connect(self.changed)
            return w
        if spec.kind is int:
            w = QSpinBox()
            lo = int(spec.minimum) - (1 if spec.default is None else 0)
            w.setRange(lo, int(min(spec.maximum, 2**31 - 1)))
            if spec.default is None:
                w.setSpecialValueText("auto")
            w.setValue(lo if spec.default is None else int(spec.default))
            if spec.unit:
                w.setSuffix(f" {spec.unit}")
            w.valueChanged.connect(self.changed)
            return w
        if spec.kind is float:
            w = QDoubleSpinBox()
            w.setDecimals(4)
            lo = spec.minimum - (1.0 if spec.default is None else 0.0)
            w.setRange(lo, spec.maximum)
            if spec.default is None:
                w.setSpecialValueText("auto")
                w.setValue(lo)
            else:
                w.setValue(float(spec.default))
                step = abs(float(spec.default)) / 10
                w.setSingleStep(step if step > 0 else 0.1)
            if spec.unit:
                w.setSuffix(f" {spec.unit}")
            w.valueChanged.connect(self.changed)
            return w
        w = QLineEdit("" if spec.default is None else str(spec.default))
        w.editingFinished.connect(self.changed)
        return w

    def widget(self, name: str) -> QWidget:
        """The input widget of one parameter."""
        return self._widgets[name][1]

    def values(self) -> dict[str, Any]:
        """Current values as keyword arguments (``None`` where "auto" is chosen)."""
        out: dict[str, Any] = {}
        for name, (spec, w) in self._widgets.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentData()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QSpinBox | QDoubleSpinBox):
                auto = spec.default is None and w.value() == w.minimum()
                out[name] = None if auto else w.value()
            else:
                text = w.text().strip()
                out[name] = text or None
        return out

    def set_value(self, name: str, value: Any) -> None:
        """Set one parameter's value (emits `changed`)."""
        spec, w = self._widgets[name]
        if isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox | QDoubleSpinBox):
            w.setValue(w.minimum() if value is None else value)
        else:
            w.setText("" if value is None else str(value))
            self.changed.emit()
