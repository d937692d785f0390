// "Use my location" on the complaint form: the browser's position goes into the form's
// hidden latitude and longitude fields, beside the place the resident typed. Without
// JavaScript, or without the resident's permission, the button stays hidden or says so,
// and the typed place is all that is sent.
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  if (!button || !("geolocation" in navigator)) {
    return;
  }
  var said = document.getElementById("location-said");
  var latitude = document.getElementById("latitude");
  var longitude = document.getElementById("longitude");
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(
      function (position) {
        latitude.value = position.coords.latitude.toFixed(6);
        longitude.value = position.coords.longitude.toFixed(6);
        said.textContent = button.dataset.shared;
      },
      function () {
        said.textContent = button.dataset.failed;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();
