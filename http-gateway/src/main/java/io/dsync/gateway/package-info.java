/**
 * The node's HTTP gateway (Javalin 7 on virtual threads, JSON with Jackson), its Prometheus
 * endpoint, its configuration and its {@code main}. Handlers are thin: read a request, call one
 * {@link io.dsync.broker.Broker} method, write the answer.
 */
package io.dsync.gateway;
