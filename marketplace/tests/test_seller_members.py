"""Removing a seller's member, or changing their role: access goes at once, a seller keeps an owner.

Services first, then admin (single and bulk delete, role changes, an owner managing their own team
only), then concurrency against real PostgreSQL transactions.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from core.exceptions import ApplicationError, NotFound
from marketplace import services
from marketplace.models import SellerMember
from marketplace.roles import SELLER_GROUPS
from tests.commit import committed
from tests.concurrency import race
from tests.events import RecordedEvents
from tests.factories import SellerFactory, seller_member

pytestmark = pytest.mark.django_db

OWNER, MANAGER, STAFF = SellerMember.Role.OWNER, SellerMember.Role.MANAGER, SellerMember.Role.STAFF


def _member(seller, user) -> SellerMember:
    return SellerMember.objects.get(seller=seller, user=user)


def _in_seller_group(user) -> bool:
    return user.groups.filter(name__in=SELLER_GROUPS).exists()


def _url(view: str, *args) -> str:
    return reverse(f"admin:marketplace_sellermember_{view}", args=args)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def seen(db):
    return RecordedEvents()


@pytest.fixture
def shop():
    """A seller with an owner and a staff member."""
    seller = SellerFactory(name="Shop A")
    owner = seller_member(seller, role=OWNER)
    staff = seller_member(seller, role=STAFF)
    return {"seller": seller, "owner": owner, "staff": staff}


@pytest.fixture
def su_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(email="root@example.com", password="pw-1"))
    return client


# --- the service -----------------------------------------------------------------------------------


class TestRemove:
    def test_removal_revokes_staff_and_the_seller_group(self, shop, seen):
        staff = shop["staff"]
        assert staff.is_staff
        assert _in_seller_group(staff)
        member = _member(shop["seller"], staff)
        actor = shop["owner"]

        with committed():
            services.seller_member_remove(member=member, actor=actor)

        staff.refresh_from_db()
        assert not SellerMember.objects.filter(pk=member.pk).exists()
        assert not staff.is_staff
        assert not _in_seller_group(staff)
        [event] = [e for e in seen if e.name == "marketplace.seller_member_removed"]
        assert event.payload == {
            "member_id": member.pk, "seller_id": shop["seller"].pk, "user_id": staff.pk, "role": STAFF,
            "staff_revoked": True, "actor_id": actor.pk,
        }

    def test_a_member_of_two_sellers_keeps_access_until_the_last(self, shop):
        other = SellerFactory(name="Shop B")
        user = shop["staff"]
        services.seller_member_add(seller=other, user=user, role=STAFF)

        services.seller_member_remove(member=_member(shop["seller"], user))
        user.refresh_from_db()
        assert user.is_staff
        assert _in_seller_group(user)
        assert list(user.seller_memberships.values_list("seller_id", flat=True)) == [other.pk]

        services.seller_member_remove(member=_member(other, user))
        user.refresh_from_db()
        assert not user.is_staff
        assert not _in_seller_group(user)

    def test_a_superuser_stays_superuser_and_staff(self, shop, django_user_model):
        root = django_user_model.objects.create_superuser(email="boss@example.com", password="pw-1")
        services.seller_member_add(seller=shop["seller"], user=root, role=MANAGER)
        assert _in_seller_group(root)

        services.seller_member_remove(member=_member(shop["seller"], root))

        root.refresh_from_db()
        assert root.is_staff
        assert root.is_superuser
        assert not _in_seller_group(root)

    def test_another_group_keeps_staff_but_not_the_seller_group(self, shop):
        user = shop["staff"]
        user.groups.add(Group.objects.create(name="Support"))

        services.seller_member_remove(member=_member(shop["seller"], user))

        user.refresh_from_db()
        assert user.is_staff
        assert list(user.groups.values_list("name", flat=True)) == ["Support"]

    def test_own_permissions_keep_staff_but_not_the_seller_group(self, shop):
        user = shop["staff"]
        user.user_permissions.add(Permission.objects.get(content_type__app_label="orders", codename="view_order"))

        services.seller_member_remove(member=_member(shop["seller"], user))

        user.refresh_from_db()
        assert user.is_staff
        assert not _in_seller_group(user)

    def test_the_last_owner_cannot_be_removed(self, shop, seen):
        owner = shop["owner"]
        member = _member(shop["seller"], owner)

        with committed(), pytest.raises(ApplicationError, match="A seller needs at least one owner.") as caught:
            services.seller_member_remove(member=member)

        assert caught.value.code == "last_owner"
        assert SellerMember.objects.filter(pk=member.pk).exists()
        owner.refresh_from_db()
        assert owner.is_staff
        assert _in_seller_group(owner)
        assert not [e for e in seen if e.name == "marketplace.seller_member_removed"]

    def test_an_owner_can_go_when_another_owner_stays(self, shop):
        second = seller_member(shop["seller"], role=OWNER)

        services.seller_member_remove(member=_member(shop["seller"], shop["owner"]))

        assert list(shop["seller"].members.filter(role=OWNER).values_list("user_id", flat=True)) == [second.pk]
        with pytest.raises(ApplicationError, match="at least one owner"):
            services.seller_member_remove(member=_member(shop["seller"], second))

    def test_removing_twice_is_a_clear_error(self, shop):
        member = _member(shop["seller"], shop["staff"])
        services.seller_member_remove(member=member)
        with pytest.raises(NotFound, match="no longer a member"):
            services.seller_member_remove(member=member)


class TestChangeRole:
    def test_the_last_owner_cannot_be_demoted(self, shop, seen):
        member = _member(shop["seller"], shop["owner"])
        with committed(), pytest.raises(ApplicationError, match="A seller needs at least one owner."):
            services.seller_member_change_role(member=member, role=MANAGER)
        member.refresh_from_db()
        assert member.role == OWNER
        assert not [e for e in seen if e.name == "marketplace.seller_member_role_changed"]

    def test_promote_then_demote_the_former_owner(self, shop, seen):
        staff = _member(shop["seller"], shop["staff"])
        owner = _member(shop["seller"], shop["owner"])
        with committed():
            services.seller_member_change_role(member=staff, role=OWNER, actor=shop["owner"])
            services.seller_member_change_role(member=owner, role=STAFF)

        assert dict(shop["seller"].members.values_list("user_id", "role")) == {
            shop["staff"].pk: OWNER, shop["owner"].pk: STAFF,
        }
        changes = [e.payload for e in seen if e.name == "marketplace.seller_member_role_changed"]
        assert [(c["user_id"], c["old_role"], c["role"]) for c in changes] == [
            (shop["staff"].pk, STAFF, OWNER), (shop["owner"].pk, OWNER, STAFF),
        ]
        assert changes[0]["actor_id"] == shop["owner"].pk

    def test_the_same_role_changes_nothing(self, shop, seen):
        with committed():
            services.seller_member_change_role(member=_member(shop["seller"], shop["owner"]), role=OWNER)
        assert not [e for e in seen if e.name == "marketplace.seller_member_role_changed"]

    def test_an_unknown_role_is_refused(self, shop):
        member = _member(shop["seller"], shop["staff"])
        with pytest.raises(ApplicationError) as caught:
            services.seller_member_change_role(member=member, role="emperor")
        assert "role" in caught.value.fields
        member.refresh_from_db()
        assert member.role == STAFF


# --- a session already signed in ---------------------------------------------------------------------


def test_a_signed_in_member_loses_admin_at_their_next_request(client, shop):
    client.force_login(shop["staff"])
    assert client.get(reverse("admin:index")).status_code == 200

    services.seller_member_remove(member=_member(shop["seller"], shop["staff"]))

    response = client.get(reverse("admin:marketplace_offer_changelist"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert client.get(reverse("admin:index")).url.startswith(reverse("admin:login"))


# --- admin: platform staff ----------------------------------------------------------------------------


class TestAdminDelete:
    def test_delete_page_removes_through_the_service(self, su_client, shop):
        member = _member(shop["seller"], shop["staff"])
        assert su_client.get(_url("delete", member.pk)).status_code == 200

        response = su_client.post(_url("delete", member.pk), {"post": "yes"})

        assert response.status_code == 302
        assert not SellerMember.objects.filter(pk=member.pk).exists()
        shop["staff"].refresh_from_db()
        assert not shop["staff"].is_staff
        assert LogEntry.objects.filter(object_id=str(member.pk), action_flag=DELETION).count() == 1

    def test_delete_page_refuses_the_last_owner_with_a_message(self, su_client, shop):
        member = _member(shop["seller"], shop["owner"])

        response = su_client.post(_url("delete", member.pk), {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert "A seller needs at least one owner." in _messages(response)
        assert SellerMember.objects.filter(pk=member.pk).exists()
        assert not LogEntry.objects.filter(object_id=str(member.pk), action_flag=DELETION).exists()
        shop["owner"].refresh_from_db()
        assert shop["owner"].is_staff

    def test_bulk_delete_confirms_then_removes_each_and_reports_refusals(self, su_client, shop):
        seller = shop["seller"]
        second_owner = seller_member(seller, role=OWNER)
        other_seller = SellerFactory(name="Shop B")
        other_staff = seller_member(other_seller, role=STAFF)
        members = [_member(seller, shop["owner"]), _member(seller, second_owner), _member(seller, shop["staff"]),
                   _member(other_seller, other_staff)]
        data = {"action": "delete_selected", "index": 0, "_selected_action": [m.pk for m in members]}

        confirm = su_client.post(_url("changelist"), data)
        assert confirm.status_code == 200
        assert b"Are you sure" in confirm.content
        assert SellerMember.objects.filter(pk__in=[m.pk for m in members]).count() == 4

        response = su_client.post(_url("changelist"), {**data, "post": "yes"}, follow=True)

        assert response.status_code == 200
        # Taken in id order: the first owner goes, the second is then the last one and stays.
        assert list(SellerMember.objects.filter(pk__in=[m.pk for m in members])) == [members[1]]
        shown = _messages(response)
        assert "Removed 3 seller members." in shown
        assert any(str(members[1]) in m and "A seller needs at least one owner." in m for m in shown)
        for user in (shop["owner"], shop["staff"], other_staff):
            user.refresh_from_db()
            assert not user.is_staff
            assert not _in_seller_group(user)
        logged = set(LogEntry.objects.filter(action_flag=DELETION).values_list("object_id", flat=True))
        assert logged == {str(members[0].pk), str(members[2].pk), str(members[3].pk)}

    def test_demoting_the_last_owner_in_admin_is_refused_with_a_message(self, su_client, shop):
        member = _member(shop["seller"], shop["owner"])

        response = su_client.post(_url("change", member.pk), {"role": MANAGER}, follow=True)

        assert response.status_code == 200  # the form again, with the choice made and the reason
        assert "A seller needs at least one owner." in response.content.decode()
        member.refresh_from_db()
        assert member.role == OWNER

    def test_role_change_in_admin_goes_through_the_service(self, su_client, shop, seen):
        member = _member(shop["seller"], shop["staff"])
        with committed():
            response = su_client.post(_url("change", member.pk), {"role": MANAGER})
        assert response.status_code == 302
        member.refresh_from_db()
        assert member.role == MANAGER
        assert [e.payload["role"] for e in seen if e.name == "marketplace.seller_member_role_changed"] == [MANAGER]


# --- admin: a seller's owner manages their own team only ------------------------------------------------


@pytest.fixture
def two_teams(shop):
    other = SellerFactory(name="Shop B")
    other_owner = seller_member(other, role=OWNER)
    other_staff = seller_member(other, role=STAFF)
    return {**shop, "other": other, "other_owner": other_owner, "other_staff": other_staff}


@pytest.fixture
def owner_client(client, two_teams):
    client.force_login(two_teams["owner"])
    return client


class TestOwnerScoping:
    def test_owner_lists_only_their_sellers_members(self, owner_client, two_teams):
        response = owner_client.get(_url("changelist"))
        assert response.status_code == 200
        assert {m.user_id for m in response.context["cl"].result_list} == {
            two_teams["owner"].pk, two_teams["staff"].pk,
        }
        assert b"Shop B" not in response.content

    def test_owner_removes_their_own_teammate(self, owner_client, two_teams):
        member = _member(two_teams["seller"], two_teams["staff"])
        assert owner_client.get(_url("delete", member.pk)).status_code == 200
        assert owner_client.post(_url("delete", member.pk), {"post": "yes"}).status_code == 302
        assert not SellerMember.objects.filter(pk=member.pk).exists()

    def test_owner_cannot_open_or_delete_another_sellers_member(self, owner_client, two_teams):
        member = _member(two_teams["other"], two_teams["other_staff"])
        for view in ("change", "delete", "history"):
            assert owner_client.get(_url(view, member.pk)).status_code in (302, 403, 404), view
        response = owner_client.post(_url("delete", member.pk), {"post": "yes"})
        assert response.status_code in (302, 403, 404)
        assert SellerMember.objects.filter(pk=member.pk).exists()
        two_teams["other_staff"].refresh_from_db()
        assert two_teams["other_staff"].is_staff

    def test_owner_bulk_delete_skips_another_sellers_member(self, owner_client, two_teams):
        mine = _member(two_teams["seller"], two_teams["staff"])
        theirs = _member(two_teams["other"], two_teams["other_staff"])
        response = owner_client.post(_url("changelist"), {
            "action": "delete_selected", "index": 0, "_selected_action": [mine.pk, theirs.pk], "post": "yes",
        })
        assert response.status_code == 302
        assert not SellerMember.objects.filter(pk=mine.pk).exists()
        assert SellerMember.objects.filter(pk=theirs.pk).exists()

    def test_owner_cannot_change_another_sellers_member_role(self, owner_client, two_teams):
        member = _member(two_teams["other"], two_teams["other_staff"])
        response = owner_client.post(_url("change", member.pk), {"role": OWNER})
        assert response.status_code in (302, 403, 404)
        member.refresh_from_db()
        assert member.role == STAFF

    def test_owner_changes_a_teammates_role(self, owner_client, two_teams):
        member = _member(two_teams["seller"], two_teams["staff"])
        assert owner_client.post(_url("change", member.pk), {"role": MANAGER}).status_code == 302
        member.refresh_from_db()
        assert member.role == MANAGER

    def test_owner_cannot_add_members(self, owner_client):
        assert owner_client.get(_url("add")).status_code == 403

    def test_staff_at_another_seller_gives_no_rights_over_its_team(self, client, two_teams):
        owner = two_teams["owner"]
        services.seller_member_add(seller=two_teams["other"], user=owner, role=STAFF)
        client.force_login(owner)
        listed = client.get(_url("changelist")).context["cl"].result_list
        assert {m.seller_id for m in listed} == {two_teams["seller"].pk}
        theirs = _member(two_teams["other"], two_teams["other_staff"])
        assert client.post(_url("delete", theirs.pk), {"post": "yes"}).status_code in (302, 403, 404)
        assert SellerMember.objects.filter(pk=theirs.pk).exists()

    def test_a_manager_cannot_manage_the_team(self, client, two_teams):
        manager = seller_member(two_teams["seller"], role=MANAGER)
        client.force_login(manager)
        assert client.get(_url("changelist")).status_code == 403
        member = _member(two_teams["seller"], two_teams["staff"])
        assert client.post(_url("delete", member.pk), {"post": "yes"}).status_code == 403
        assert SellerMember.objects.filter(pk=member.pk).exists()


def test_owner_member_changelist_query_count(client, django_assert_max_num_queries, shop):
    client.force_login(shop["owner"])
    url = _url("changelist")
    client.get(url)
    for _i in range(2):
        seller_member(shop["seller"])
    with django_assert_max_num_queries(20) as small:
        assert client.get(url).status_code == 200
    for _i in range(10):
        seller_member(shop["seller"])
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).context["cl"].result_count == 14


# --- concurrency (real transactions) ------------------------------------------------------------------


def _at_once(*targets):
    """Each target at the same moment; "ok" or the exception it raised, in order."""
    return [r if isinstance(r, Exception) else "ok" for r in race(lambda target: target(), [(t,) for t in targets])]


@pytest.mark.django_db(transaction=True)
def test_two_owners_removing_each_other_at_once_leave_one():
    seller = SellerFactory()
    a, b = seller_member(seller, role=OWNER), seller_member(seller, role=OWNER)
    member_a, member_b = _member(seller, a), _member(seller, b)
    results = _at_once(
        lambda: services.seller_member_remove(member=member_a),
        lambda: services.seller_member_remove(member=member_b),
    )
    assert sorted(map(str, results)) == ["A seller needs at least one owner.", "ok"]
    assert seller.members.filter(role=OWNER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_demoting_two_owners_at_once_leaves_one():
    seller = SellerFactory()
    members = [_member(seller, seller_member(seller, role=OWNER)) for _i in range(2)]
    results = _at_once(*[lambda m=m: services.seller_member_change_role(member=m, role=STAFF) for m in members])
    assert sorted(map(str, results)) == ["A seller needs at least one owner.", "ok"]
    assert seller.members.filter(role=OWNER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_removed_from_two_sellers_at_once_loses_access():
    first, second = SellerFactory(), SellerFactory()
    user = seller_member(first)
    services.seller_member_add(seller=second, user=user)
    member_1, member_2 = _member(first, user), _member(second, user)
    results = _at_once(
        lambda: services.seller_member_remove(member=member_1),
        lambda: services.seller_member_remove(member=member_2),
    )
    assert results == ["ok", "ok"]
    user.refresh_from_db()
    assert not user.is_staff
    assert not _in_seller_group(user)


def test_adding_an_existing_member_again_with_another_role_keeps_the_last_owner_rule():
    from core.exceptions import ApplicationError
    from marketplace import services
    from marketplace.models import SellerMember
    from tests.factories import SellerFactory, UserFactory

    seller = SellerFactory()
    owner = UserFactory()
    services.seller_member_add(seller=seller, user=owner, role=SellerMember.Role.OWNER)
    with pytest.raises(ApplicationError, match="at least one owner"):
        services.seller_member_add(seller=seller, user=owner, role=SellerMember.Role.STAFF)
    assert SellerMember.objects.get(seller=seller, user=owner).role == SellerMember.Role.OWNER
    second = UserFactory()
    services.seller_member_add(seller=seller, user=second, role=SellerMember.Role.OWNER)
    services.seller_member_add(seller=seller, user=owner, role=SellerMember.Role.MANAGER)
    assert SellerMember.objects.get(seller=seller, user=owner).role == SellerMember.Role.MANAGER
