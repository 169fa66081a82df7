/* Ollama's POST /api/pull (core/hub.h does the pulling). */
#ifndef RK_API_PULL_H
#define RK_API_PULL_H

#include "http/server.h"

/* Route table; returns its count. The app pointer is an api_app. */
int pull_routes(const http_route **out);

#endif
