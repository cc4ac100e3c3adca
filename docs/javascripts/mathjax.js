// MathJax 3 set up for pymdownx.arithmatex (generic mode): \( \) inline, \[ \] display.
// MathJax itself is javascripts/mathjax/tex-chtml.js, copied into the site from the docs
// extra by docs/hooks.py, so the formulas render with no network. This file runs first
// and only configures it: MathJax reads window.MathJax when it loads.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  },
  startup: {
    // Once MathJax has loaded and typeset the first page: typeset every page that
    // Material's instant navigation swaps in later. (Subscribing any earlier, before
    // MathJax.startup exists, is what threw "Cannot read properties of undefined".)
    ready() {
      MathJax.startup.defaultReady();
      MathJax.startup.promise.then(() => {
        document.documentElement.dataset.mathjax = "ready";   // tests/test_site.py looks
        if (typeof document$ === "undefined") return;
        let first = true;
        document$.subscribe(() => {
          if (first) { first = false; return; }   // the page MathJax typeset at startup
          MathJax.startup.output.clearCache();
          MathJax.typesetClear();
          MathJax.texReset();
          MathJax.typesetPromise();
        });
      });
    }
  }
};
