import { render } from "preact";
import { App } from "./app";
import { start as startLive } from "./live";
import "./styles.css";

const root = document.getElementById("app");
if (root) {
  root.replaceChildren();
  render(<App />, root);
}
startLive();

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("service worker not registered", e));
}
