/* example.c - caption one photo with libcaption: the whole API a program needs.
 *   cc example.c -o example $(pkg-config --cflags --libs caption)
 *   ./example MODEL PHOTO */
#include <caption.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: example MODEL PHOTO\n");
        return 2;
    }
    cap_model *model = NULL;
    cap_image image = {0};
    cap_result result = {0};
    cap_error err = {0};
    const cap_options options = cap_options_default();
    int rc = 1;
    if (cap_model_load(argv[1], &model, &err) == CAP_OK &&
        cap_image_load_file(argv[2], &image, &err) == CAP_OK &&
        cap_caption_image(model, &image, &options, &result, &err) == CAP_OK) {
        char text[512];
        cap_caption_text(model, &result.captions[0], text, sizeof text);
        printf("%s\n", text);
        rc = 0;
    } else {
        fprintf(stderr, "example: %s\n", err.message);
    }
    cap_result_free(&result);
    cap_image_free(&image);
    cap_model_free(model);
    return rc;
}
