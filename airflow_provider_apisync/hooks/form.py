"""The ``apisync`` connection form for Airflow lines that predate declarative ``conn-fields``.

Airflow >= 3.2 builds the form from provider info (``conn-fields`` and
``ui-field-behaviour`` in :func:`airflow_provider_apisync.get_provider_info`) and ignores
the hook's methods. Airflow 2.11 - 3.1 only read ``get_connection_form_widgets`` /
``get_ui_field_behaviour`` on the hook class: these build the same fields from the same
provider info, so both forms show the same fields with one source of truth.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from airflow_provider_apisync import get_provider_info


def _connection_type() -> dict[str, Any]:
    (conn_type,) = get_provider_info()["connection-types"]
    return conn_type


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields (the provider info's ``ui-field-behaviour``).

    The hook method's schema spells the keys with underscores (``hidden_fields``) where
    provider info uses dashes, and requires all three.
    """
    declared = _connection_type()["ui-field-behaviour"]
    return {
        "hidden_fields": list(declared.get("hidden-fields", [])),
        "relabeling": dict(declared.get("relabeling", {})),
        "placeholders": dict(declared.get("placeholders", {})),
    }


def connection_form_widgets() -> dict[str, Any]:
    """WTForms fields for every ``conn-fields`` entry (the form of Airflow 2.11 - 3.1).

    Imported lazily: Airflow imports wtforms (the 3.0/3.1 API server swaps in its own field
    classes) only when it renders the form. Secrets become password fields, integers integer
    fields, everything else (numbers, JSON, enums) a text field that the hook validates.
    flask-appbuilder's widgets are used where it is installed (2.11's webserver, the FAB auth
    manager); the 3.0/3.1 API server needs none.
    """
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    text, password = _widgets()
    widgets: dict[str, Any] = {}
    for name, spec in _connection_type()["conn-fields"].items():
        schema = spec.get("schema", {})
        types = schema.get("type", [])
        label = spec["label"]
        description = spec.get("description", "")
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=password, description=description)
        elif "integer" in types:
            widgets[name] = IntegerField(
                label, widget=text, validators=[Optional()], description=description
            )
        else:
            widgets[name] = StringField(label, widget=text, description=description)
    return widgets


def _widgets() -> tuple[Any, Any]:
    """flask-appbuilder's text and password widgets, or ``(None, None)`` without it."""
    try:
        found = importlib.util.find_spec("flask_appbuilder") is not None
    except ValueError:  # a stand-in without a spec: Airflow 3.1's API server mocks FAB's
        found = "flask_appbuilder" in sys.modules  # widgets in sys.modules to read forms
    if not found:
        return None, None
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget

    return BS3TextFieldWidget(), BS3PasswordFieldWidget()
