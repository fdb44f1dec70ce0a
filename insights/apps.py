from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = _("Insights")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from insights import receivers

        # Signing in happens in accounts and the admin, below insights: the visitor is linked to the
        # user from the auth framework's own signal (as checkout merges the guest cart).
        user_logged_in.connect(receivers.identify, dispatch_uid="insights.identify")
