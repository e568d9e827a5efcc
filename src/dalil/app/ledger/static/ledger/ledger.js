// Dalil ledger: draw a trace's flow graph with the vendored Cytoscape.js.
// The elements come from a json_script block; labels are drawn on a canvas, never as HTML.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  function draw() {
    var box = document.getElementById("flow-graph");
    var data = document.getElementById("flow-elements");
    if (!box || !data || typeof window.cytoscape !== "function") { return; }
    var elements = JSON.parse(data.textContent);
    var cy = window.cytoscape({
      container: box,
      elements: elements,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
          "label": "data(label)", "font-size": 9, "text-wrap": "wrap", "text-max-width": 140,
          "text-valign": "bottom", "text-margin-y": 3, "background-color": "#4a6fa5",
          "width": 18, "height": 18 } },
        { selector: "node[kind = 'tx']", style: { "shape": "round-rectangle", "background-color": "#888", "width": 14, "height": 14 } },
        { selector: "node[tags != '']", style: { "background-color": "#d08c00" } },
        { selector: "node[?stop]", style: { "background-color": "#b00020" } },
        { selector: "node[?seed]", style: { "border-width": 3, "border-color": "#111" } },
        { selector: "edge", style: {
          "label": "data(label)", "font-size": 8, "curve-style": "bezier",
          "target-arrow-shape": "triangle", "line-color": "#999", "target-arrow-color": "#999",
          "width": "mapData(fraction, 0, 1, 1, 6)", "text-rotation": "autorotate",
          "text-background-color": "#fff", "text-background-opacity": 0.8 } },
        { selector: "edge[taint > 0]", style: { "line-color": "#c0392b", "target-arrow-color": "#c0392b" } }
      ],
      layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1,
                roots: elements.filter(function (e) { return e.group === "nodes" && e.data.seed; })
                               .map(function (e) { return "#" + CSS.escape(e.data.id); }).join(",") || undefined }
    });
    cy.on("tap", "node", function (event) {
      var node = event.target.data();
      var value = node.value;
      if (node.kind === "tx") {
        window.location.href = box.getAttribute("data-tx-url").replace("TXID", encodeURIComponent(value));
      } else if (value.indexOf("unknown:") !== 0 && value.indexOf("script:") !== 0) {
        window.location.href = box.getAttribute("data-address-url").replace("ADDRESS", encodeURIComponent(value));
      }
    });
    box.setAttribute("data-nodes", String(cy.nodes().length));
    box.setAttribute("data-edges", String(cy.edges().length));
    window.dalilFlowGraph = cy;
  }
  ready(draw);
})();
