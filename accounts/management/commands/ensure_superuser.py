"""Create the first administrator if missing (used by `make run`); never changes an existing one."""

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Create a superuser with this e-mail and password unless one with that e-mail exists."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)

    def handle(self, *args, email: str, password: str, **options):
        user, created = services.superuser_ensure(email=email, password=password)
        state = "created" if created else "already exists (password unchanged)"
        self.stdout.write(f"Admin {user.email}: {state}")
