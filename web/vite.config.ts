/// <reference types="vitest/config" />
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/** The daemon's URL for each built page; the dev server mirrors it so `npm run dev` behaves the same. */
const PAGE_ROUTES: Array<[RegExp, string]> = [
  [/^\/embed\/video\/?(?:[?#].*)?$/, '/embed-video.html'],
  [/^\/embed\/chat\/(?:readonly|readwrite)\/?(?:[?#].*)?$/, '/embed-chat.html'],
];

function embedRoutes(): Plugin {
  const rewrite = (url: string | undefined): string | undefined => {
    if (!url) return url;
    for (const [pattern, page] of PAGE_ROUTES) {
      if (pattern.test(url)) return page;
    }
    return url;
  };
  return {
    name: 'owncastd-embed-routes',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        req.url = rewrite(req.url);
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((req, _res, next) => {
        req.url = rewrite(req.url);
        next();
      });
    },
  };
}

// During development the API, HLS and images come from a running daemon.
const daemon = process.env.OWNCASTD_URL ?? 'http://127.0.0.1:8080';
const proxied = ['/api', '/hls', '/logo', '/thumbnail.jpg', '/preview.gif', '/img', '/public', '/ws'];

export default defineConfig({
  base: '/',
  plugins: [embedRoutes()],
  build: {
    outDir: resolve(__dirname, '../src/owncastd/webserver/static'),
    emptyOutDir: true,
    assetsDir: 'assets',
    manifest: true,
    sourcemap: false,
    rollupOptions: {
      input: {
        index: resolve(__dirname, 'index.html'),
        'embed-video': resolve(__dirname, 'embed-video.html'),
        'embed-chat': resolve(__dirname, 'embed-chat.html'),
      },
    },
  },
  server: {
    proxy: Object.fromEntries(
      proxied.map((path) => [path, { target: daemon, changeOrigin: false, ws: path === '/ws' }]),
    ),
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
  },
});
