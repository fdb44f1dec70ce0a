"""The experiments admin: only staff with the change permission start and stop; a view-only staff
member sees the experiment, its variants and history, and a forged POST changes nothing; variants
are read only while it runs; edits of a stopped one's weights are recorded."""

from __future__ import annotations

import pytest

from experiments.models import Experiment, ExperimentChange, Variant
from experiments.tests.conftest import make
from tests.factories import admin_action, admin_actions, staff_user

pytestmark = pytest.mark.django_db
URL = "/admin/experiments/experiment/"


def test_view_only_staff_see_but_cannot_act(client):
    experiment = make("viewed", start=False)
    client.force_login(staff_user("experiments.view_experiment"))
    listing = client.get(URL)
    assert listing.status_code == 200
    assert "viewed" in listing.content.decode()
    assert admin_actions(listing) == set()
    page = client.get(f"{URL}{experiment.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_action(client, URL, "start_experiments", experiment, follow=True).status_code == 200
    assert Experiment.objects.get(pk=experiment.pk).status == "draft"


def test_change_permission_starts_and_stops(client):
    experiment = make("acted", start=False)
    user = staff_user("experiments.view_experiment", "experiments.change_experiment")
    client.force_login(user)
    assert admin_actions(client.get(URL)) == {"start_experiments", "stop_experiments"}
    admin_action(client, URL, "start_experiments", experiment)
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    assert ExperimentChange.objects.get(experiment=experiment, kind="started").actor == user
    response = admin_action(client, URL, "start_experiments", experiment, follow=True)
    assert "already running" in response.content.decode()
    admin_action(client, URL, "stop_experiments", experiment)
    assert Experiment.objects.get(pk=experiment.pk).status == "stopped"


def _form(experiment, variants, **changes) -> dict:
    data = {"key": experiment.key, "name": experiment.name, "hypothesis": "", "audience": experiment.audience,
            "starts_at_0": "", "starts_at_1": "", "stops_at_0": "", "stops_at_1": "",
            "variants-TOTAL_FORMS": str(len(variants)), "variants-INITIAL_FORMS": str(len(variants)),
            "variants-MIN_NUM_FORMS": "2", "variants-MAX_NUM_FORMS": "1000",
            "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0", "_save": "Save"}
    for i, variant in enumerate(variants):
        data.update({f"variants-{i}-id": str(variant.pk), f"variants-{i}-experiment": str(experiment.pk),
                     f"variants-{i}-position": str(variant.position), f"variants-{i}-key": variant.key,
                     f"variants-{i}-name": variant.name, f"variants-{i}-weight": str(variant.weight)})
    data.update(changes)
    return data


def test_variants_are_read_only_while_running_and_weight_edits_are_recorded_when_stopped(client):
    experiment = make("edited", weights=(1, 1))
    user = staff_user("experiments.view_experiment", "experiments.change_experiment")
    client.force_login(user)
    page = client.get(f"{URL}{experiment.pk}/change/").content.decode()
    assert 'name="variants-0-weight"' not in page  # read only while it runs
    assert "Results" in page  # the link to insights' page, found by URL name

    from experiments import services

    services.experiment_stop(experiment=experiment)
    variants = list(Variant.objects.filter(experiment=experiment).order_by("position"))
    page = client.get(f"{URL}{experiment.pk}/change/").content.decode()
    assert 'name="variants-0-weight"' in page
    response = client.post(f"{URL}{experiment.pk}/change/", _form(experiment, variants, **{"variants-1-weight": "3"}))
    assert response.status_code == 302, response.content.decode()[:2000]
    change = ExperimentChange.objects.get(experiment=experiment, kind="weights")
    assert (change.before, change.after, change.actor) == ({"weights": {"control": 1, "t1": 1}},
                                                           {"weights": {"control": 1, "t1": 3}}, user)


def test_an_experiment_that_ran_cannot_be_deleted(client):
    ran = make("ran")
    draft = make("draft-only", start=False)
    client.force_login(staff_user("experiments.view_experiment", "experiments.delete_experiment"))
    assert client.post(f"{URL}{ran.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{URL}{draft.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Experiment.objects.filter(pk=draft.pk).exists()


def test_an_experiment_defined_in_admin_is_recorded_and_starts_from_the_list(client):
    user = staff_user("experiments.view_experiment", "experiments.add_experiment", "experiments.change_experiment")
    client.force_login(user)
    data = {"key": "from-admin", "name": "From admin", "hypothesis": "More joins.", "audience": "everyone",
            "starts_at_0": "", "starts_at_1": "", "stops_at_0": "", "stops_at_1": "",
            "variants-TOTAL_FORMS": "2", "variants-INITIAL_FORMS": "0", "variants-MIN_NUM_FORMS": "2",
            "variants-MAX_NUM_FORMS": "1000", "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0",
            "variants-0-position": "0", "variants-0-key": "control", "variants-0-name": "Control",
            "variants-0-weight": "1", "variants-1-position": "1", "variants-1-key": "banner",
            "variants-1-name": "Banner", "variants-1-weight": "3", "_save": "Save"}
    response = client.post(f"{URL}add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get(key="from-admin")
    created = ExperimentChange.objects.get(experiment=experiment)
    assert (created.kind, created.actor, created.after) == ("created", user, {"weights": {"control": 1, "banner": 3}})
    admin_action(client, URL, "start_experiments", experiment)
    assert Experiment.objects.get(pk=experiment.pk).status == "running"
    bad = dict(data, key="zero-weight", **{"variants-1-weight": "0"})
    assert client.post(f"{URL}add/", bad).status_code == 200  # the form says why
    assert not Experiment.objects.filter(key="zero-weight").exists()
