/* version.h — the one version string of all mxlab programs. */
#ifndef MXLAB_VERSION_H
#define MXLAB_VERSION_H
#ifndef MXLAB_VERSION
#define MXLAB_VERSION "0.0.0"
#endif
#endif
