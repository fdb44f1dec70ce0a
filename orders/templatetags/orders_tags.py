"""``{% recent_orders user %}``: the account page's "Your orders" list.

The account page belongs to accounts, a lower layer that cannot import orders; the template
asks for this tag instead, so the dependency stays at the presentation edge.
"""

from django import template

from orders import selectors

register = template.Library()


@register.inclusion_tag("orders/_recent_orders.html")
def recent_orders(user, limit: int = 5) -> dict:
    orders = list(selectors.orders_for_user(user=user)[: int(limit)])
    return {"orders": orders}
