"""The analytics events insights stores (Segment's Ecommerce v2 names), by where they come from.

These are not domain events (core.events): they describe what shoppers did and are stored in
``insights.Event`` (see core.analytics and insights.services)."""

# Sent by the browser (static/js/insights.js through the beacon, insights.views.beacon).
PRODUCT_LIST_VIEWED = "Product List Viewed"  # list_id, category, query, products [{product_id, position}]
PRODUCT_VIEWED = "Product Viewed"  # product_id, sku, category, seller_id (the featured offer's)
PRODUCT_CLICKED = "Product Clicked"  # product_id, list (e.g. "recommendations", "category", "search"), position
PRODUCTS_SEARCHED = "Products Searched"  # query, results
CART_VIEWED = "Cart Viewed"  # (the cart page)

# Recorded by the server.
SIGNED_IN = "Signed In"  # links the visitor id to the user (identify)
# order_id (the number), subtotal, discount, shipping, tax, total, revenue, currency, products
ORDER_COMPLETED = "Order Completed"
ORDER_CANCELLED = "Order Cancelled"  # order_id, total, currency
ORDER_REFUNDED = "Order Refunded"  # order_id, amount (where known), currency
MEMBERSHIP_JOINED = "Membership Joined"  # subscription_id, plan, interval, status
PRODUCT_ADDED = "Product Added"  # cart_id, product_id, sku, price, currency, quantity (added)
PRODUCT_REMOVED = "Product Removed"  # cart_id, product_id, sku, price, currency, quantity (removed)
CHECKOUT_STARTED = "Checkout Started"  # cart_id, value, currency, lines
CHECKOUT_STEP_COMPLETED = "Checkout Step Completed"  # cart_id, step (1 address, 2 delivery), step_name
SIGNED_UP = "Signed Up"  # (the new user's id is the event's user id)

BROWSER_EVENTS = (PRODUCT_LIST_VIEWED, PRODUCT_VIEWED, PRODUCT_CLICKED, PRODUCTS_SEARCHED, CART_VIEWED)
SERVER_EVENTS = (SIGNED_IN, ORDER_COMPLETED, ORDER_CANCELLED, ORDER_REFUNDED, MEMBERSHIP_JOINED, PRODUCT_ADDED,
                 PRODUCT_REMOVED, CHECKOUT_STARTED, CHECKOUT_STEP_COMPLETED, SIGNED_UP)
ALL_EVENTS = BROWSER_EVENTS + SERVER_EVENTS
