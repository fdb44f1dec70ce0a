from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.forms import AdminPasswordChangeForm, UserChangeAdminForm, UserCreateAdminForm
from accounts.models import Address, User


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("full_name", "phone"), "line1", "line2", ("postal_code", "city"), ("region", "country"), "is_default",
    )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreateAdminForm
    change_password_form = AdminPasswordChangeForm  # also revokes the user's API tokens
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name")
    inlines = [AddressInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_readonly_fields(self, request, obj=None):
        # Who holds which rights is for superusers to decide: someone who may edit users (support,
        # say) must not make themselves or anyone else a superuser or hand out permissions.
        if request.user.is_superuser or obj is None:
            return super().get_readonly_fields(request, obj)
        return (*super().get_readonly_fields(request, obj), "is_staff", "is_superuser", "groups", "user_permissions")


# django-axes offers "Clean up expired attempts" to anyone who can see the sign-in attempts (its action
# names no permission): here it deletes rows, so it needs the permission to delete them.
if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    @admin.action(description=_("Clean up expired attempts"), permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)
