#ifndef AGENTLOG_EXPORT_H_
#define AGENTLOG_EXPORT_H_

// The library is built with hidden visibility; AGENTLOG_EXPORT marks the
// symbols a host may use.
#if defined(AGENTLOG_BUILDING_LIBRARY)
#define AGENTLOG_EXPORT [[gnu::visibility("default")]]
#else
#define AGENTLOG_EXPORT
#endif

#endif  // AGENTLOG_EXPORT_H_
