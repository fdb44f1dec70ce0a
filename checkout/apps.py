from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckoutConfig(AppConfig):
    name = "checkout"
    verbose_name = _("Checkout")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from checkout import receivers

        # Signing in happens in accounts (and the admin), a lower layer that must not import
        # checkout, so the guest cart is merged from the auth framework's own sign-in signal.
        # This is the one framework signal the domain reacts to (docs/architecture.md);
        # connected here, explicitly, so a reader of checkout sees who reacts to a sign-in.
        user_logged_in.connect(receivers.merge_guest_cart, dispatch_uid="checkout.merge_guest_cart")
