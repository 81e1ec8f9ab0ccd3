// The console's little script: deadline countdowns and the reply-template picker.
// Pages work without it; it only keeps the countdowns current and fills a text area.
(function () {
  "use strict";
  function countdowns() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - now) / 60000);
      var h = Math.floor(Math.abs(left) / 60), m = Math.abs(left) % 60;
      el.textContent = (left >= 0 ? "剩余 " : "已超期 ") + h + " 小时 " + m + " 分";
    });
  }
  countdowns();
  setInterval(countdowns, 30000);
  document.querySelectorAll(".reply-picker").forEach(function (picker) {
    picker.addEventListener("change", function () {
      var target = picker.form.querySelector("[name=" + picker.dataset.target + "]");
      if (target && picker.value) { target.value = picker.value; }
    });
  });
})();
