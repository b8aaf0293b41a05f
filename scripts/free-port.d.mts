/** scripts/free-port.mjs: a port nothing listens on now, on 127.0.0.1. */
export declare function freePort(): Promise<number>;
