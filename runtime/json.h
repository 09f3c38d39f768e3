/* A tiny JSON reader for OCI config.json: parses a whole document into a tree. */
#ifndef KILN_JSON_H
#define KILN_JSON_H
#include <stddef.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jval {
  enum jtype type;
  char *key;          /* member name when inside an object */
  char *str;          /* J_STR (NUL-terminated, UTF-8) */
  double num;         /* J_NUM; also J_BOOL (0/1) */
  long long inum;     /* J_NUM as an integer when it was written without fraction/exponent */
  struct jval **items;/* J_ARR / J_OBJ children */
  size_t n;
} jval;

/* Parses `text` (len bytes). Returns NULL and fills err on malformed input. Depth is capped. */
jval *json_parse(const char *text, size_t len, char *err, size_t errlen);
/* Object member by name, or NULL. */
jval *jget(const jval *obj, const char *key);
/* jget(...)->str if it is a string, else def. */
const char *jstr(const jval *obj, const char *key, const char *def);
long long jint(const jval *obj, const char *key, long long def);
int jbool(const jval *obj, const char *key, int def);
#endif
