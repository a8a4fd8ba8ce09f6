# lead-export: one image, role chosen at run time (serve --role all|api|worker).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
COPY bench ./bench
COPY test/support ./test/support
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
USER node
EXPOSE 8080
# SIGTERM drains in-flight deliveries (SHUTDOWN_TIMEOUT_MS), then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/lead-export.js"]
CMD ["serve", "--role", "all"]
