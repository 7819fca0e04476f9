(function () {
  var ids = ["f-state", "f-family", "f-op", "f-text"];
  function apply() {
    var s = document.getElementById("f-state").value, fam = document.getElementById("f-family").value,
        op = document.getElementById("f-op").value, t = document.getElementById("f-text").value.toLowerCase(), n = 0;
    document.querySelectorAll("tr.finding").forEach(function (r) {
      var ok = (!s || r.dataset.state === s) && (!fam || r.dataset.family === fam) && (!op || r.dataset.op === op)
        && (!t || r.textContent.toLowerCase().indexOf(t) >= 0);
      r.style.display = ok ? "" : "none"; if (ok) n++;
    });
    document.getElementById("f-count").textContent = n + " shown";
  }
  ids.forEach(function (id) { document.getElementById(id).addEventListener("input", apply); });
  apply();
})();
