"""The reference bank's app: every route is a module-level view of one blueprint (issue 9, thin
blueprints) that finds its bank in the app handling the request, so two banks in one process
answer each with its own keys."""
from __future__ import annotations

from bank_connectors.reference_bank import app as bank_app
from bank_connectors.reference_bank import create_bank_app


def test_every_route_is_a_module_level_view_of_the_blueprint(tmp_path):
    app = create_bank_app(tmp_path / "bank", start_workers=False)
    try:
        views = {rule.endpoint: app.view_functions[rule.endpoint] for rule in app.url_map.iter_rules()
                 if rule.endpoint != "static"}
        assert len(views) == 9
        for endpoint, view in views.items():
            assert endpoint.startswith("reference_bank."), endpoint
            assert "<locals>" not in view.__qualname__, endpoint
            assert getattr(bank_app, view.__name__) is view
    finally:
        app.extensions[bank_app.EXTENSION].stop()


def test_two_banks_in_one_process_each_answer_with_their_own_keys(tmp_path):
    first = create_bank_app(tmp_path / "first", start_workers=False)
    second = create_bank_app(tmp_path / "second", start_workers=False)
    try:
        keys = [app.test_client().get(bank_app.API + "/keys").get_json() for app in (first, second)]
        expected = [app.extensions[bank_app.EXTENSION].keys.public().to_dict() for app in (first, second)]
        assert keys == expected and keys[0] != keys[1]
        assert first.test_client().get(bank_app.API + "/nowhere").get_json() == {"code": "NOT_FOUND", "reason": ""}
    finally:
        for app in (first, second):
            app.extensions[bank_app.EXTENSION].stop()
