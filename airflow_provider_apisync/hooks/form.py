"""The ``apisync`` connection form for Airflow lines that predate declarative ``conn-fields``.

Airflow >= 3.2 builds the form from provider info (``conn-fields`` and
``ui-field-behaviour``) and ignores the hook's methods. Airflow 2.11 - 3.1 only read
``get_connection_form_widgets`` / ``get_ui_field_behaviour`` on the hook class: these build
the same fields from the same table (``client/fields.py``), so both forms agree.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from airflow_provider_apisync.client import fields


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields (the provider info's ``ui-field-behaviour``).

    The hook method's schema spells ``hidden_fields`` with an underscore where provider info
    uses a dash.
    """
    declared = fields.ui_field_behaviour()
    return {"hidden_fields": declared.pop("hidden-fields"), **declared}


def connection_form_widgets() -> dict[str, Any]:
    """WTForms fields for every row of the table (the form of Airflow 2.11 - 3.1).

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
    for f in fields.FIELDS:
        if f.secret:
            widgets[f.key] = PasswordField(f.label, widget=password, description=f.description)
        elif f.type == "integer":
            widgets[f.key] = IntegerField(
                f.label, widget=text, validators=[Optional()], description=f.description
            )
        else:
            widgets[f.key] = StringField(f.label, widget=text, description=f.description)
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
