// Coverage maps for the Signpost console (Leaflet, served from the console itself). Everything the map shows is
// also written on the page: without JavaScript only the map is missing.
(function () {
  "use strict";
  var element = document.getElementById("map");
  if (!element || typeof L === "undefined") { return; }
  var map = L.map(element, { attributionControl: true }).setView([52.6, -1.5], 6);
  if (element.dataset.tiles) {
    L.tileLayer(element.dataset.tiles, { maxZoom: 18, attribution: element.dataset.attribution || "" }).addTo(map);
  }
  var styles = {
    coverage: { color: "#1d70b8", weight: 2, fillOpacity: 0.25 },
    force: { color: "#0b0c0c", weight: 1, dashArray: "4 4", fill: false }
  };
  if (element.dataset.geojson) {
    fetch(element.dataset.geojson, { credentials: "same-origin" })
      .then(function (reply) { return reply.ok ? reply.json() : null; })
      .then(function (data) {
        if (!data || !data.features.length) { return; }
        var layer = L.geoJSON(data, { style: function (f) { return styles[f.properties.role] || styles.coverage; } });
        layer.addTo(map);
        map.fitBounds(layer.getBounds(), { maxZoom: 12 });
        element.dataset.loaded = "1";
      });
  }
  if (element.dataset.pick === "radius") {
    var lat = document.getElementById("f-centre_lat");
    var lon = document.getElementById("f-centre_lon");
    var radius = document.getElementById("f-radius_m");
    var kind = document.getElementById("f-coverage_type");
    var circle = null;
    var draw = function () {
      var r = parseFloat(radius && radius.value) || 5000;
      if (!lat.value || !lon.value) { return; }
      var centre = [parseFloat(lat.value), parseFloat(lon.value)];
      if (circle) { circle.setLatLng(centre).setRadius(r); } else { circle = L.circle(centre, { radius: r, color: "#00703c" }).addTo(map); }
    };
    map.on("click", function (event) {
      lat.value = event.latlng.lat.toFixed(5);
      lon.value = event.latlng.lng.toFixed(5);
      if (radius && !radius.value) { radius.value = "5000"; }
      if (kind) { kind.value = "radius"; }
      ["f-area_codes", "f-geometry", "f-nation"].forEach(function (id) {
        var cell = document.getElementById(id);
        if (cell) { cell.value = ""; }
      });
      draw();
    });
    if (radius) { radius.addEventListener("input", draw); }
  }
}());
