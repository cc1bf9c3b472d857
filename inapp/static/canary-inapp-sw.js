/* Canary Web Push service worker: copy this file to the root of your product's origin
 * (e.g. https://app.example.com/canary-inapp-sw.js) — a service worker must come from the page's own origin. */
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {body: event.data ? event.data.text() : ""}; }
  event.waitUntil(self.registration.showNotification(data.title || "Notification", {
    body: data.body || "", data: {url: data.url || null}
  }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = event.notification.data && event.notification.data.url;
  if (url && /^https?:\/\//i.test(url)) { event.waitUntil(self.clients.openWindow(url)); }
});
