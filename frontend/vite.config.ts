import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/** The service worker is its own entry with a fixed name, and learns the app shell's files. */
function serviceWorker(): Plugin {
  return {
    name: "ticketbuster-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      const shell = [...Object.keys(bundle), ...filesUnder("public").map((f) => f.slice("public/".length))]
        .filter((file) => file !== "sw.js" && !file.endsWith(".map"))
        .map((file) => `/${file}`);
      const worker = bundle["sw.js"];
      if (worker?.type === "chunk") {
        const version = shell.filter((f) => f.startsWith("/assets/")).join(",");
        worker.code = worker.code
          .replace(/["'`]__APP_SHELL__["'`]/, JSON.stringify(["/", ...shell.filter((f) => f !== "/index.html")]))
          .replace("__SHELL_VERSION__", hash(version));
      }
    },
  };
}

function hash(text: string): string {
  let h = 0;
  for (const c of text) h = (Math.imul(31, h) + c.charCodeAt(0)) | 0;
  return (h >>> 0).toString(36);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Writes `<file>.gz` beside every compressible file, so the web component sends gzip without compressing per request. */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "ticketbuster-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      for (const file of filesUnder(outDir)) {
        if (/\.(js|css|html|svg|json|webmanifest)$/.test(file)) {
          writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
        }
      }
    },
  };
}

export default defineConfig({
  plugins: [serviceWorker(), precompress()],
  build: {
    target: "es2022",
    rollupOptions: {
      input: { app: "index.html", sw: "src/sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:3000" },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
