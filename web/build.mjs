// node web/build.mjs NODE_MODULES ENTRY OUTFILE
//
// Bundles the viewer (ENTRY, web/src/app.js) and noVNC into one minified IIFE
// with esbuild, as `esbuild ENTRY --bundle --format=iife --minify
// --target=es2020 --legal-comments=linked --charset=ascii` would, plus one
// fix that the command line cannot make:
//
// noVNC 1.6.0's npm package (CommonJS under lib/) has a top-level await in
// lib/util/browser.js, which CommonJS does not allow and no bundler can put
// in an IIFE (https://github.com/novnc/noVNC/issues/1943). That line only
// probes whether the browser decodes H.264 through WebCodecs. It is rewritten
// to set the same export when the probe settles; until then, and if the probe
// throws, the export keeps its initial value, false. noVNC reads it when it
// lists its encodings after the login, long after the probe has finished.
// The build fails if the line is not found, so a different noVNC version is
// never bundled with the fix silently skipped.
//
// Run by the pg_web target (web/web.cmake); NODE_MODULES is the build
// folder's node_modules, where `npm ci` put esbuild and noVNC.

import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import path from "node:path";

const [nodeModules, entry, outfile] = process.argv.slice(2);
if (!nodeModules || !entry || !outfile) {
  console.error("usage: node web/build.mjs NODE_MODULES ENTRY OUTFILE");
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(nodeModules), "noop.js"));
const esbuild = require("esbuild");

const TLA_LINE =
  "exports.supportsWebCodecsH264Decode = supportsWebCodecsH264Decode = await _checkWebCodecsH264DecodeSupport();";
const TLA_FIX =
  "_checkWebCodecsH264DecodeSupport().then(function (v) { exports.supportsWebCodecsH264Decode = supportsWebCodecsH264Decode = v; }, function () {});";

const noTopLevelAwait = {
  name: "novnc-no-top-level-await",
  setup(build) {
    build.onLoad({ filter: /[\\/]@novnc[\\/]novnc[\\/]lib[\\/]util[\\/]browser\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const count = source.split(TLA_LINE).length - 1;
      if (count !== 1) {
        return {
          errors: [
            {
              text:
                `expected noVNC 1.6.0's top-level await line once in ${args.path}, found it ${count} times: ` +
                "check web/build.mjs against the noVNC version in web/package-lock.json",
            },
          ],
        };
      }
      return { contents: source.replace(TLA_LINE, TLA_FIX), loader: "js" };
    });
  },
};

try {
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "iife",
    minify: true,
    target: "es2020",
    platform: "browser",
    legalComments: "linked",
    charset: "ascii",
    nodePaths: [path.resolve(nodeModules)],
    logLevel: "warning",
    plugins: [noTopLevelAwait],
  });
} catch (e) {
  // esbuild has printed the errors already.
  process.exit(1);
}
