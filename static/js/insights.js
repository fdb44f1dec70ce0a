/* Bazaar insights: sends what the shopper sees and clicks to the analytics beacon (/insights/e/).
 *
 * Pages describe themselves with data attributes (server-rendered, so cached pages carry them too):
 *   data-insights-view='{"name": "Product Viewed", "product_id": 12, ...}'   an event sent on load
 *   data-insights-list='{"list_id": "category", "category": "Kettles"}'      a product list: sends
 *       "Product List Viewed" with its items, and "Product Clicked" when a link in an item is followed
 *   data-insights-item='{"product_id": 12, "position": 3}'                   an item of a list
 * The server decides what is recorded (whitelisted names and properties, the visitor from its own
 * cookie, consent); nothing here is trusted. No dependencies, no eval; the shop works without it.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var endpoint = (script && script.getAttribute("data-endpoint")) || "/insights/e/";
  var MAX_PER_REQUEST = 20;

  function parse(element, attribute) {
    try {
      var value = JSON.parse(element.getAttribute(attribute) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (error) {
      return {};
    }
  }

  function send(events) {
    for (var start = 0; start < events.length; start += MAX_PER_REQUEST) {
      var body = JSON.stringify({ events: events.slice(start, start + MAX_PER_REQUEST) });
      var queued = false;
      if (navigator.sendBeacon) {
        try {
          // text/plain: a type sendBeacon may send everywhere; the server reads the body as JSON.
          queued = navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain;charset=UTF-8" }));
        } catch (error) {
          queued = false;
        }
      }
      if (!queued && window.fetch) {
        window.fetch(endpoint, {
          method: "POST", body: body, keepalive: true, credentials: "same-origin",
          headers: { "Content-Type": "text/plain;charset=UTF-8" }
        }).catch(function () {});
      }
    }
  }

  function event(name, properties) {
    return { name: name, properties: properties };
  }

  function itemsOf(list) {
    var items = [];
    list.querySelectorAll("[data-insights-item]").forEach(function (item, index) {
      var data = parse(item, "data-insights-item");
      if (data.position === undefined) data.position = index + 1;
      items.push({ element: item, data: data });
    });
    return items;
  }

  function pageEvents() {
    var events = [];
    document.querySelectorAll("[data-insights-view]").forEach(function (element) {
      var data = parse(element, "data-insights-view");
      var name = data.name;
      delete data.name;
      if (name) events.push(event(name, data));
    });
    document.querySelectorAll("[data-insights-list]").forEach(function (list) {
      events.push(listViewed(list));
    });
    return events;
  }

  function onClick(clicked) {
    var link = clicked.target.closest ? clicked.target.closest("a[href]") : null;
    var item = link && link.closest("[data-insights-item]");
    var list = item && item.closest("[data-insights-list]");
    if (!item || !list) return;
    var data = parse(item, "data-insights-item");
    var position = data.position;
    if (position === undefined) {
      position = itemsOf(list).map(function (entry) { return entry.element; }).indexOf(item) + 1;
    }
    if (typeof data.product_id !== "number") return;
    send([event("Product Clicked", {
      product_id: data.product_id, position: position, list: parse(list, "data-insights-list").list_id || ""
    })]);
  }

  function listViewed(list) {
    var data = parse(list, "data-insights-list");
    data.products = itemsOf(list).map(function (item) {
      return { product_id: item.data.product_id, position: item.data.position };
    }).filter(function (product) { return typeof product.product_id === "number"; });
    return event("Product List Viewed", data);
  }

  function onSwap() {
    // Lists that arrive after the page (recommendation blocks fetched by htmx) are seen too, once.
    var events = [];
    document.querySelectorAll("[data-insights-list]").forEach(function (list) {
      if (list.getAttribute("data-insights-sent")) return;
      list.setAttribute("data-insights-sent", "1");
      events.push(listViewed(list));
    });
    if (events.length) send(events);
  }

  function start() {
    document.querySelectorAll("[data-insights-list]").forEach(function (list) {
      list.setAttribute("data-insights-sent", "1");
    });
    var events = pageEvents();
    if (events.length) send(events);
    document.addEventListener("click", onClick, true);
    document.body.addEventListener("htmx:afterSettle", onSwap);
  }

  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
